"""PLACEHOLDER: magento adapter (being written)."""

from __future__ import annotations

from collections.abc import Iterator

from pakfashion.config import Platform
from pakfashion.crawling.adapters import Adapter
from pakfashion.crawling.record import ProductRecord


class MagentoAdapter(Adapter):
    platform = Platform.magento

    def evidence(self) -> str:
        return ""

    def records(self) -> Iterator[ProductRecord]:
        yield from ()
