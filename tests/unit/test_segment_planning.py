from streammm.media.segments import plan_cuts
from streammm.media.muxing import TimedPacket


def _video(t: float, key: bool = False) -> TimedPacket:
    return TimedPacket("video", t, key)


def _audio(t: float) -> TimedPacket:
    return TimedPacket("audio", t, True)


def test_cuts_on_keyframes_after_the_target_length():
    packets = [_video(i * 0.5, key=(i % 2 == 0)) for i in range(12)]  # keyframe every 1 s, 6 s long
    groups = list(plan_cuts(packets, 2.0, has_video=True))
    assert [start for start, _ in groups] == [0.0, 2.0, 4.0]
    assert sum(len(g) for _, g in groups) == len(packets)


def test_late_interleaved_audio_joins_the_segment_it_belongs_to():
    # The demuxer hands over the keyframe at 2.0 before audio stamped 1.9.
    packets = [_video(0.0, True), _audio(0.0), _audio(1.0), _video(2.0, True), _audio(1.9), _audio(2.1), _video(2.5)]
    groups = list(plan_cuts(packets, 2.0, has_video=True))
    assert len(groups) == 2
    first, second = groups[0][1], groups[1][1]
    assert [p.time_s for p in first if p.kind == "audio"] == [0.0, 1.0, 1.9]
    assert [p.time_s for p in second if p.kind == "audio"] == [2.1]
    assert all(p.time_s >= 2.0 for p in second)


def test_every_packet_lands_exactly_once_without_keyframes_or_with_audio_only():
    packets = [_audio(i * 0.064) for i in range(200)]
    groups = list(plan_cuts(packets, 2.0, has_video=False))
    flattened = [p for _, g in groups for p in g]
    assert flattened == packets
    assert all(g[-1].time_s - g[0].time_s < 2.0 for _, g in groups)

    no_keys = [_video(i * 0.1, key=(i == 0)) for i in range(50)]
    assert [len(g) for _, g in plan_cuts(no_keys, 2.0, has_video=True)] == [50]


def test_empty_input_yields_nothing():
    assert list(plan_cuts([], 2.0, has_video=True)) == []
