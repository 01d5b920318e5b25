"""Business logic of vision-keypoint."""
