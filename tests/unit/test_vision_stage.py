"""The vision stage runs the model once per picture: a frame that shows what the frame before it showed
reuses its tags and vector (a counting fake encoder stands in for the model)."""

import numpy as np

from streammm.models.base import VisualBatch
from streammm.records import Frame
from streammm.stages.vision import observe_frames


class CountingEncoder:
    """Each image's vector is its mean grey level; its tag says which call saw it."""

    def __init__(self):
        self.seen = 0

    def encode(self, images):
        self.seen += len(images)
        vectors = np.array([[float(np.mean(image)), 1.0] for image in images])
        return VisualBatch(vectors, [(f"image-{self.seen - len(images) + i}",) for i in range(len(images))])


def still(t_s, level, *, noise=0, shot_change=False, seed=0):
    image = np.full((72, 128, 3), level, np.int16)
    image += np.random.default_rng(seed).integers(-noise, noise + 1, image.shape, dtype=np.int16) if noise else 0
    return Frame(t_s=t_s, image=np.clip(image, 0, 255).astype(np.uint8), shot_change=shot_change)


def test_a_still_picture_is_encoded_once_and_every_frame_keeps_its_own_time():
    encoder = CountingEncoder()
    frames = [still(float(t), 100, noise=3, seed=t) for t in range(5)]  # compression-like noise, same picture
    observed = observe_frames(frames, encoder, same_diff=2.0)
    assert encoder.seen == 1
    assert [o.t_s for o in observed] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert {o.tags for o in observed} == {("image-0",)}


def test_a_changed_picture_a_small_change_and_a_shot_change_are_encoded_again():
    encoder = CountingEncoder()
    frames = [still(0.0, 100), still(1.0, 100), still(2.0, 160), still(3.0, 160, shot_change=True)]
    cursor = still(4.0, 160)
    cursor.image[10:20, 10:20] = 255  # a mouse pointer: one cell of the grid changes a lot
    observed = observe_frames([*frames, cursor], encoder, same_diff=2.0)
    assert encoder.seen == 4  # 0, 2, 3 (shot change), 4 (pointer); 1 reuses 0
    assert [o.tags[0] for o in observed] == ["image-0", "image-0", "image-1", "image-2", "image-3"]
    assert observed[2].vector[0] == 160 and observed[3].shot_change


def test_a_slow_fade_is_encoded_again_once_it_has_drifted_from_the_encoded_frame():
    encoder = CountingEncoder()
    frames = [still(float(t), 100 + t) for t in range(6)]  # 1 grey level a frame: each step is "the same"
    observed = observe_frames(frames, encoder, same_diff=2.0)
    assert encoder.seen == 2  # 100 encoded; 101, 102 reuse it; 103 is 3 away from it: encoded; 104, 105 reuse
    assert [o.vector[0] for o in observed] == [100, 100, 100, 103, 103, 103]


def test_zero_runs_the_model_on_every_frame():
    encoder = CountingEncoder()
    observe_frames([still(float(t), 100) for t in range(3)], encoder, same_diff=0.0)
    assert encoder.seen == 3
    assert observe_frames([], encoder, same_diff=2.0) == []
