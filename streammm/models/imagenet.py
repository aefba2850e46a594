"""ImageNet-1k class names (torchvision's list, in index order) turned into text the encoder understands."""

from __future__ import annotations

from functools import cache

# Contiguous index ranges of ImageNet-1k that share a common kind. A bare class name is often ambiguous to
# a sentence encoder ("monarch", "tusker", "admiral"); naming the kind puts it in the right neighbourhood.
_KINDS: tuple[tuple[int, int, str], ...] = (
    (0, 6, "fish"),
    (7, 24, "bird"),
    (25, 32, "amphibian"),
    (33, 37, "turtle"),
    (38, 48, "lizard"),
    (49, 50, "crocodile"),
    (52, 68, "snake"),
    (72, 77, "spider"),
    (80, 100, "bird"),
    (101, 101, "elephant"),
    (107, 126, "sea creature"),
    (127, 146, "bird"),
    (147, 150, "sea mammal"),
    (151, 268, "dog"),
    (269, 280, "wild dog"),
    (281, 285, "cat"),
    (286, 293, "big cat"),
    (294, 297, "bear"),
    (300, 320, "insect"),
    (321, 326, "butterfly"),
    (330, 332, "rabbit"),
    (333, 338, "rodent"),
    (339, 339, "horse"),
    (340, 353, "hoofed animal"),
    (354, 355, "camel"),
    (356, 362, "small mammal"),
    (365, 384, "primate"),
    (385, 386, "elephant"),
    (387, 388, "panda"),
    (389, 397, "fish"),
    (924, 969, "food or drink"),
    (970, 980, "landscape"),
    (984, 990, "plant"),
    (991, 997, "mushroom"),
)


@cache
def class_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in index order, as torchvision ships them."""
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    names = tuple(_IMAGENET_CATEGORIES)
    if len(names) != 1000:
        raise RuntimeError(f"expected 1000 ImageNet classes, torchvision has {len(names)}")
    return names


def kind_of(index: int) -> str | None:
    for first, last, kind in _KINDS:
        if first <= index <= last:
            return kind
    return None


@cache
def class_prompts() -> tuple[str, ...]:
    """One sentence per class, e.g. "a photo of a monarch, a kind of butterfly"."""
    prompts = []
    for index, name in enumerate(class_names()):
        kind = kind_of(index)
        prompts.append(f"a photo of a {name}, a kind of {kind}" if kind else f"a photo of a {name}")
    return tuple(prompts)
