"""Video sources behind one interface; which run is decided by config and by the job."""
