"""The browser operator page, without ROS: an aiohttp server with its own assets (robots have no
internet), the video and status stream over a WebSocket, and the few requests an operator may make
(init by drag or tap, stop, the score threshold), guarded by a token and a rate limit."""
