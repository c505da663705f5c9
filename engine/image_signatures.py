"""Image signatures the engine keeps (`pacer image sign`), sent to agents with each task of a signed image."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Mapping

from engine.errors import AppValidationError, FieldError
from engine.events import EventBus, ImageSignatureRemoved, ImageSigned
from engine.model import AppDefinition
from engine.store import Store
from engine.trust import ImageSignature, normalize_ref, repository_of


class ImageSignatures:
    def __init__(self, bus: EventBus, clock: Callable[[], float], apps: Mapping[str, AppDefinition],
                 default_image: str | None, retry: Callable[[list[str]], None]) -> None:
        """`retry(app_ids)`: apps that wait after failed launches may try again at once."""
        self._bus = bus
        self._clock = clock
        self._apps = apps
        self._default_image = default_image
        self._retry = retry
        self.store: Store | None = None
        self.signatures: tuple[ImageSignature, ...] = ()

    def load(self, store: Store) -> None:
        self.store = store
        self.signatures = tuple(store.load_signatures())

    def signatures_for(self, image: str, image_id: str | None = None) -> list[ImageSignature]:
        """The signatures an agent may need for `image`: those of its repository, and of a pinned id."""
        repo = repository_of(image)
        pinned = (image_id or "").lower().removeprefix("sha256:")
        return [s for s in self.signatures
                if repository_of(s.image) == repo or (len(pinned) >= 12 and s.image_id[7:].startswith(pinned))]

    def add(self, sig: ImageSignature) -> ImageSignature:
        """Keep a signature (refused unless it verifies under its own key); apps of that repository that
        wait after failed launches try again at once."""
        problem = sig.problem()
        if problem is not None:
            path, _, message = problem.partition(": ")
            raise AppValidationError([FieldError(f"/{path}", message)])
        assert self.store is not None
        sig = replace(sig, image=normalize_ref(sig.image), signed_at=sig.signed_at or self._clock())
        self.store.add_signature(sig)
        self.signatures = tuple(
            s for s in self.signatures
            if (s.image_id, s.public_key, s.image) != (sig.image_id, sig.public_key, sig.image)) + (sig,)
        self._bus.publish(ImageSigned(image=sig.image, image_id=sig.image_id, key_id=sig.key_id))
        repo = repository_of(sig.image)
        self._retry([a.id for a in self._apps.values()
                     if repository_of(a.image or self._default_image or "") == repo])
        return sig

    def remove(self, *, image_id: str | None = None, key_id: str | None = None,
               image: str | None = None) -> list[ImageSignature]:
        """Forget the signatures that match every filter given (at least one)."""
        if image_id is None and key_id is None and image is None:
            raise AppValidationError([FieldError("/", "name an imageId, keyId or image")])
        ref = normalize_ref(image) if image else None
        gone = [s for s in self.signatures
                if (image_id is None or s.image_id == image_id) and (key_id is None or s.key_id == key_id)
                and (ref is None or s.image == ref)]
        if gone:
            assert self.store is not None
            self.store.remove_signatures(gone)
            self.signatures = tuple(s for s in self.signatures if s not in gone)
            for s in gone:
                self._bus.publish(ImageSignatureRemoved(image=s.image, image_id=s.image_id, key_id=s.key_id))
        return gone
