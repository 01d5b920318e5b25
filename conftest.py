# Every test tree in this repository gets the real-infrastructure fixtures.
pytest_plugins = ["common_py.testing"]
