"""A real RTSP server for the tests: Debian's gst-rtsp-server serving one media file in real time.

Runs with the system Python (`/usr/bin/python3`), which has the GStreamer bindings (python3-gi,
gir1.2-gst-rtsp-server-1.0); the project's virtual environment need not. It prints `ready PORT` on stdout
once it listens, and serves `rtsp://127.0.0.1:PORT/NAME` until killed. Every client gets the file from its
start, paced by the pipeline clock (as a camera delivers it). Variants:

- `asis`: the file's own H.264 (High, B-frames) and AAC, only re-packetised;
- `camera`: what an IP camera sends: H.264 baseline, no B-frames, a keyframe every 2 s, G.711 A-law audio;
- `mjpeg`: MJPEG video and Opus audio;
- `h265`: H.265 video (2 s GOP) and AAC audio.

Usage: rtsp_server.py --port PORT --media FILE [--variant asis] [--name cam] [--user U --password P]
"""

from __future__ import annotations

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

SMALL = "videoscale ! video/x-raw,width=640,height=360 ! videoconvert"
VARIANTS = {
    "asis": (
        "filesrc location={media} ! qtdemux name=d "
        "d.video_0 ! queue ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 "
        "d.audio_0 ! queue ! aacparse ! rtpmp4apay name=pay1 pt=97"
    ),
    "camera": (
        "filesrc location={media} ! decodebin name=d "
        "d. ! queue ! videoconvert ! " + SMALL + " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=50 bframes=0 "
        "! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1 "
        "d. ! queue ! audioconvert ! audioresample ! audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1 pt=8"
    ),
    "mjpeg": (
        "filesrc location={media} ! decodebin name=d "
        "d. ! queue ! videoconvert ! " + SMALL + " ! jpegenc quality=80 ! rtpjpegpay name=pay0 pt=26 "
        "d. ! queue ! audioconvert ! audioresample ! audio/x-raw,rate=48000 ! opusenc ! rtpopuspay name=pay1 pt=97"
    ),
    "h265": (
        "filesrc location={media} ! decodebin name=d "
        "d. ! queue ! videoconvert ! " + SMALL + " ! x265enc speed-preset=ultrafast tune=zerolatency key-int-max=50 "
        "! rtph265pay name=pay0 pt=96 config-interval=1 "
        "d. ! queue ! audioconvert ! audioresample ! avenc_aac ! aacparse ! rtpmp4apay name=pay1 pt=97"
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--media", required=True)
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="asis")
    parser.add_argument("--name", default="cam")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch("( " + VARIANTS[args.variant].format(media=args.media) + " )")
    factory.set_shared(True)  # several clients (the bench's streams) watch one camera
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_role_from_structure(Gst.Structure.new_from_string("user, media.factory.access=true, media.factory.construct=true"))
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory("/" + args.name, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    print(f"ready {args.port}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
