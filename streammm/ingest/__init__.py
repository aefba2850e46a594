"""Sources (files, RTSP, HLS) into segments on the segments topic."""
