"""eBay through the Browse API (https://developer.ebay.com/api-docs/buy/browse/overview.html).

- auth: OAuth client credentials, `POST {base}/identity/v1/oauth2/token` with HTTP Basic
  (client id : secret) and scope `https://api.ebay.com/oauth/api_scope`; the application token
  (`expires_in` 7200 s) is cached until shortly before it expires and renewed once on a 401.
- search: `GET {base}/buy/browse/v1/item_summary/search?q=&limit=&offset=` with the header
  `X-EBAY-C-MARKETPLACE-ID`; pages are followed (offset += items received) until `limit`
  products are found or the answer has no `next`.
- details: `GET {base}/buy/browse/v1/item/{item_id}` for an item whose summary carries no
  `additionalImages`; it also gives the brand. The collector calls it only for products it has
  not stored before.
Every request and every image goes through SafeHttp (address checks, size and time caps).
"""

from __future__ import annotations

import base64
import logging
from dataclasses import replace
from urllib.parse import quote

from common_py.safe_http import FetchError, SafeHttp
from services.sources.base import ProductRecord, SourceError, fetch_url, to_float
from services.sources.oauth import TokenCache, with_token

log = logging.getLogger("catalog-collector")
SCOPE = "https://api.ebay.com/oauth/api_scope"
PAGE_MAX = 200  # the Browse API's own maximum for `limit`


class EbaySource:
    name = "ebay"

    def __init__(self, http: SafeHttp, *, client_id: str, client_secret: str, marketplace_id: str = "EBAY_US",
                 api_base: str = "https://api.ebay.com", page_size: int = 50):
        self.http = http
        self.base = api_base.rstrip("/")
        self.marketplace_id = marketplace_id
        self.page_size = max(1, min(page_size, PAGE_MAX))
        self._basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.tokens = TokenCache(self._request_token)

    async def _request_token(self) -> tuple[str, float]:
        got = await self.http.fetch(f"{self.base}/identity/v1/oauth2/token", method="POST",
                                    headers={"Authorization": f"Basic {self._basic}"},
                                    data={"grant_type": "client_credentials", "scope": SCOPE})
        body = got.json()
        if not body.get("access_token"):
            raise SourceError("eBay token endpoint answered without an access_token")
        return body["access_token"], float(body.get("expires_in", 7200))

    async def _get(self, path: str, params: dict | None = None) -> dict:
        async def call(token: str):
            return await self.http.fetch(f"{self.base}{path}", params=params, headers={
                "Authorization": f"Bearer {token}", "X-EBAY-C-MARKETPLACE-ID": self.marketplace_id})
        return (await with_token(self.tokens, call)).json()

    async def search(self, industry: str, limit: int) -> list[ProductRecord]:
        out: list[ProductRecord] = []
        offset = 0
        try:
            while len(out) < limit:
                page = await self._get("/buy/browse/v1/item_summary/search", {
                    "q": industry, "limit": min(self.page_size, limit - len(out)), "offset": offset})
                items = page.get("itemSummaries") or []  # absent when nothing matches
                out += [self._record(i) for i in items if i.get("itemId")][:limit - len(out)]
                offset += len(items)
                if not items or not page.get("next"):
                    break
        except FetchError as exc:
            raise SourceError(f"eBay search failed: {exc}") from exc
        return out

    def _record(self, item: dict) -> ProductRecord:
        price = item.get("price") or {}
        images = _image_urls(item)
        return ProductRecord(
            src="ebay", item_id=item["itemId"], title=item.get("title"), brand=item.get("brand") or _aspect(item),
            url=item.get("itemWebUrl"), price=to_float(price.get("value")), currency=price.get("currency"),
            images=images, needs_details="additionalImages" not in item)

    async def details(self, rec: ProductRecord) -> ProductRecord:
        """The item's full gallery and brand; the summary as it is if getItem fails (the summary
        images are still worth having)."""
        try:
            item = await self._get(f"/buy/browse/v1/item/{quote(rec.item_id, safe='')}")
        except (FetchError, SourceError) as exc:
            log.warning("eBay getItem %s failed, keeping the summary: %s", rec.item_id, exc)
            return replace(rec, needs_details=False)
        full = self._record({**item, "itemId": rec.item_id})
        return replace(full, title=full.title or rec.title, url=full.url or rec.url,
                       images=full.images or rec.images, price=full.price if full.price is not None else rec.price,
                       currency=full.currency or rec.currency, brand=full.brand or rec.brand, needs_details=False)

    async def fetch_image(self, ref: str) -> bytes:
        return await fetch_url(self.http, ref)


def _image_urls(item: dict) -> list[str]:
    """Main image first, then the additional ones, each once."""
    urls = [(item.get("image") or {}).get("imageUrl")]
    urls += [(i or {}).get("imageUrl") for i in item.get("additionalImages") or []]
    return list(dict.fromkeys(u for u in urls if u))


def _aspect(item: dict, name: str = "Brand") -> str | None:
    for aspect in item.get("localizedAspects") or []:
        if aspect.get("name") == name and aspect.get("value"):
            return aspect["value"]
    return None
