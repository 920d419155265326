"""Video side details: stream facts from ffmpeg's report, tracking loss and re-detection,
gap filling and smoothing of mouth tracks, fixed-scale crops, failed-frame threshold."""
import cv2
import numpy as np
import pytest

import avdm.video  # noqa: F401
from avdm.registry import LANDMARK_DETECTORS
from avdm.video.decode import VideoError, parse_stream_info
from avdm.video.detectors import MouthTrack, similarity, thumbnail
from avdm.video.lips import extract_lips
from avdm.video.roi import NoFaceError, crop_mouths, fill_and_smooth

GRID_REPORT = """Input #0, mpeg, from 'bbaf2n.mpg':
  Duration: 00:00:02.98, start: 0.000000, bitrate: 1215 kb/s
  Stream #0:0[0x1e0]: Video: mpeg1video, yuv420p(tv, progressive), 360x288 [SAR 1:1 DAR 5:4], 104857 kb/s, 25 fps, 50 tbr, 90k tbn
  Stream #0:1[0x1c0]: Audio: mp2, 44100 Hz, stereo, s16p, 224 kb/s
At least one output file must be specified
"""
MP4_REPORT = """  Duration: 00:01:02.50, start: 0.000000, bitrate: 69 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 640x480 [SAR 1:1 DAR 4:3], 59 kb/s, 29.97 fps, 29.97 tbr, 30k tbn (default)
"""
TBR_ONLY = "  Stream #0:0: Video: rawvideo (Y800 / 0x30303859), gray, 96x96, 1k tbr, 1k tbn\n"


def test_stream_facts_from_ffmpeg_report():
    g = parse_stream_info(GRID_REPORT)
    assert (g.width, g.height, g.fps, g.has_audio, g.audio_rate) == (360, 288, 25.0, True, 44100)
    assert g.duration == pytest.approx(2.98)
    m = parse_stream_info(MP4_REPORT)  # the codec tag 0x31637661 is no frame size
    assert (m.width, m.height, m.fps, m.has_audio, m.audio_rate) == (640, 480, 29.97, False, None)
    assert m.duration == pytest.approx(62.5)
    assert parse_stream_info(TBR_ONLY).fps == 1000.0
    with pytest.raises(VideoError, match=r"clip.mp4: no video stream \(Invalid data found"):
        parse_stream_info("clip.mp4: Invalid data found when processing input\n", "clip.mp4")


@pytest.fixture(scope="module")
def face():
    from avdm.data.face import base_face

    img, pts = base_face()
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), pts[48:68].mean(axis=0)


def jumping_face(face, scale=1.0, blank=(14, 15), n=20):
    """A face that jumps 110 px right and 20 px down at frame 10, with flat gray frames ``blank``."""
    gray, mouth = face
    frames, centres = [], []
    for k in range(n):
        dx, dy = (0, 0) if k < 10 else (110, 20)
        base = (-120, -40) if scale == 1.0 else (-40, 0)
        M = np.array([[scale, 0, base[0] + dx], [0, scale, base[1] + dy]])
        f = cv2.warpAffine(gray, M, (360, 288), borderValue=0)
        if k in blank:
            f = np.full_like(f, 90)
        frames.append(f)
        centres.append(M[:, :2] @ mouth + M[:, 2])
    return np.stack(frames), np.array(centres)


def test_dlib68_tracks_and_redetects_only_when_lost(face):
    frames, centres = jumping_face(face)
    track = LANDMARK_DETECTORS.build("dlib68").track(frames)
    assert list(np.flatnonzero(track.failed)) == [14, 15]  # the blank frames, nothing else
    ok = ~track.failed
    err = np.linalg.norm(track.centre[ok] - centres[ok], axis=1)
    assert err.max() < 2.0, err  # also right after the jump: tracking loss was noticed
    # detection ran on frame 0, after the jump, on both blank frames and when the face came back
    assert track.stats["detections"] == 5
    assert track.landmarks.shape == (20, 68, 2)


def test_dlib68_detects_once_on_a_steady_face(face):
    frames, _ = jumping_face(face, blank=(), n=10)
    track = LANDMARK_DETECTORS.build("dlib68").track(frames)
    assert track.stats == {"detections": 1, "lost": 0}


def test_small_faces_need_the_full_resolution_fallback(face):
    frames, centres = jumping_face(face, scale=0.6, blank=(), n=4)  # face ~56 px wide
    fast = LANDMARK_DETECTORS.build("dlib68", {"full_res_fallback": False}).track(frames)
    assert fast.failed.all()
    track = LANDMARK_DETECTORS.build("dlib68").track(frames)
    assert not track.failed.any()
    assert np.linalg.norm(track.centre - centres, axis=1).max() < 2.0


def test_haar_follows_the_jump(face):
    frames, centres = jumping_face(face)
    track = LANDMARK_DETECTORS.build("haar").track(frames)
    assert list(np.flatnonzero(track.failed)) == [14, 15]
    ok = ~track.failed
    assert np.linalg.norm(track.centre[ok] - centres[ok], axis=1).max() < 8.0
    assert track.landmarks is None
    assert track.stats["detections"] == 5  # whole-frame searches: start, jump, 2 blank frames, return


def test_thumbnail_similarity():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (100, 100), dtype=np.uint8), (7, 7), 2)
    a = thumbnail(img, (20, 20, 80, 80))
    assert similarity(a, thumbnail(img, (21, 20, 81, 80))) > 0.9
    assert similarity(a, thumbnail(img[::-1].copy(), (20, 20, 80, 80))) < 0.5
    assert thumbnail(np.full((100, 100), 7, np.uint8), (20, 20, 80, 80)) is None  # flat
    assert thumbnail(img, (95, 95, 140, 140)) is None  # (almost) outside
    assert similarity(None, a) == -1.0


def test_gaps_are_interpolated_and_the_track_smoothed():
    T = 30
    t = np.arange(T, dtype=float)
    rng = np.random.default_rng(1)
    truth = np.stack([100 + t, 50 + 0.5 * t], axis=1)
    centre = truth + rng.normal(0, 1.5, (T, 2))
    centre[10:13] = np.nan
    size = np.full(T, 80.0)
    size[10:13] = np.nan
    size[20] = 200.0  # one wild face size: the median ignores it
    filled, side = fill_and_smooth(MouthTrack(centre, size), max_failed_frac=0.2)
    assert np.isfinite(filled).all()
    assert side == pytest.approx(0.6 * 80.0)
    # the gap lies on the line through its neighbours, and smoothing removed most of the jitter
    assert np.abs(filled[10:13] - truth[10:13]).max() < 2.5
    inner = slice(3, T - 3)
    assert np.abs(filled[inner] - truth[inner]).std() < 0.6 * np.abs(centre[inner] - truth[inner])[
        np.isfinite(centre[inner]).all(axis=1)].std()


def test_too_many_failed_frames_is_an_error():
    T = 20
    centre = np.full((T, 2), 50.0)
    centre[:6] = np.nan
    track = MouthTrack(centre, np.full(T, 80.0))
    with pytest.raises(NoFaceError, match=r"no face in 6 of 20 frames \(more than 25%\)"):
        fill_and_smooth(track, max_failed_frac=0.25)
    assert fill_and_smooth(track, max_failed_frac=0.3)[0].shape == (T, 2)
    with pytest.raises(NoFaceError, match="no face found in any of 20 frames"):
        fill_and_smooth(MouthTrack(np.full((T, 2), np.nan), np.full(T, np.nan)))


def test_crop_has_one_scale_and_is_centred():
    # a 10x10 white square at a different place in each frame, seen at a fixed 2x zoom
    frames = np.zeros((3, 200, 300), np.uint8)
    corners = [(95, 75), (145, 115), (195, 55)]
    for f, (x, y) in zip(frames, corners):
        f[y:y + 10, x:x + 10] = 255
    centres = np.array(corners, float) + 4.5  # pixel centres of the square
    crops = crop_mouths(frames, centres, side=48.0)
    assert crops.shape == (3, 96, 96) and crops.dtype == np.uint8
    for c in crops:
        ys, xs = np.nonzero(c > 127)
        assert abs(ys.mean() - 47.5) < 0.3 and abs(xs.mean() - 47.5) < 0.3
        assert 19 <= np.ptp(ys) + 1 <= 21 and 19 <= np.ptp(xs) + 1 <= 21  # 10 px at 2x in every frame


def test_extract_lips_fills_short_gaps_and_refuses_long_ones(face, tmp_path):
    frames, _ = jumping_face(face, blank=(4, 5))
    lips = extract_lips("mem", frames=frames)
    assert lips.shape == (20, 96, 96) and lips.dtype == np.uint8
    # the gap frames are cut from the blank frames at interpolated positions: flat gray
    assert lips[4].std() < 1.0 and lips[3].std() > 10.0
    frames, _ = jumping_face(face, blank=tuple(range(2, 10)))
    with pytest.raises(NoFaceError, match="no face in 8 of 20 frames"):
        extract_lips("mem", frames=frames, max_failed_frac=0.25)
