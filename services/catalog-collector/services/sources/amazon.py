"""Amazon through the Creators API, which replaced PA-API 5 in 2026.

What this relies on (the Creators API reference pages for SearchItems and GetItems, and the
auth flow as implemented by the python-amazon-paapi 6/7 `amazon_creatorsapi` client; see the
README, "Amazon"): kept small and in one place so it is easy to correct.

- credentials: a Credential ID, Credential Secret and a credential *version* from Associates
  Central, plus the partner (associate) tag. The version picks the token endpoint and flow:
  2.x are Amazon Cognito (form body, scope `creatorsapi/default`, the API's Authorization header
  is `Bearer <token>, Version <version>`), 3.x are Login with Amazon (JSON body, scope
  `creatorsapi::default`, header `Bearer <token>`). The token is cached until shortly before it
  expires and renewed once on a 401.
- search: `POST {base}/catalog/v1/searchItems` (base `https://creatorsapi.amazon`) with header
  `x-marketplace: www.amazon.com` and a camelCase JSON body: `partnerTag`, `keywords`,
  `itemCount` (1-10), `itemPage` (1-10), `resources`. Answer: `searchResult.items[]` with
  `asin`, `detailPageURL`, `itemInfo.title.displayValue`, `itemInfo.byLineInfo.brand.displayValue`,
  `images.primary.large.url`, `images.variants[].large.url`,
  `offersV2.listings[].price.money.{amount,currency}`. A search with no match answers 404 (as
  PA-API 5 did with `NoResults`): that is an empty result, not an outage.
"""

from __future__ import annotations

from common_py.safe_http import FetchError, HTTPStatusError, SafeHttp
from services.sources.base import ProductRecord, SourceError, fetch_url, to_float
from services.sources.oauth import TokenCache, with_token

# token endpoint per credential version (Cognito for 2.x, Login with Amazon for 3.x)
AUTH_URLS = {
    "2.1": "https://creatorsapi.auth.us-east-1.amazoncognito.com/oauth2/token",  # North America
    "2.2": "https://creatorsapi.auth.eu-south-2.amazoncognito.com/oauth2/token",  # Europe
    "2.3": "https://creatorsapi.auth.us-west-2.amazoncognito.com/oauth2/token",  # Far East
    "3.1": "https://api.amazon.com/auth/o2/token",
    "3.2": "https://api.amazon.co.uk/auth/o2/token",
    "3.3": "https://api.amazon.co.jp/auth/o2/token",
}
RESOURCES = ["itemInfo.title", "itemInfo.byLineInfo", "images.primary.large", "images.variants.large",
             "offersV2.listings.price"]
PAGE_MAX = 10  # itemCount and itemPage are both 1-10: at most 100 results per query


class AmazonCreatorsSource:
    name = "amazon"

    def __init__(self, http: SafeHttp, *, credential_id: str, credential_secret: str, version: str,
                 partner_tag: str, marketplace: str = "www.amazon.com",
                 api_base: str = "https://creatorsapi.amazon", auth_url: str | None = None):
        self.http = http
        self.version = version
        self.lwa = version.startswith("3.")
        self.auth_url = auth_url or AUTH_URLS.get(version)
        if not self.auth_url:
            raise ValueError(f"unknown Creators API credential version {version!r}: set AMAZON_AUTH_URL "
                             f"(known: {', '.join(AUTH_URLS)})")
        self.credential_id, self.credential_secret = credential_id, credential_secret
        self.partner_tag, self.marketplace = partner_tag, marketplace
        self.base = api_base.rstrip("/")
        self.tokens = TokenCache(self._request_token)

    async def _request_token(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials", "client_id": self.credential_id,
                "client_secret": self.credential_secret,
                "scope": "creatorsapi::default" if self.lwa else "creatorsapi/default"}
        got = await (self.http.fetch(self.auth_url, method="POST", json=form) if self.lwa
                     else self.http.fetch(self.auth_url, method="POST", data=form))
        body = got.json()
        if not body.get("access_token"):
            raise SourceError("Creators API token endpoint answered without an access_token")
        return body["access_token"], float(body.get("expires_in", 3600))

    async def _search_page(self, keywords: str, count: int, page: int) -> list[dict]:
        async def call(token: str):
            auth = f"Bearer {token}" if self.lwa else f"Bearer {token}, Version {self.version}"
            return await self.http.fetch(f"{self.base}/catalog/v1/searchItems", method="POST", headers={
                "Authorization": auth, "x-marketplace": self.marketplace}, json={
                "partnerTag": self.partner_tag, "keywords": keywords, "itemCount": count, "itemPage": page,
                "resources": RESOURCES})
        try:
            body = (await with_token(self.tokens, call)).json()
        except HTTPStatusError as exc:
            if exc.status == 404:  # no result for the keywords
                return []
            raise
        return ((body.get("searchResult") or {}).get("items")) or []

    async def search(self, industry: str, limit: int) -> list[ProductRecord]:
        # itemPage counts pages of itemCount items, so the page size stays the same throughout
        count = max(1, min(PAGE_MAX, limit))
        out: list[ProductRecord] = []
        try:
            for page in range(1, PAGE_MAX + 1):
                items = await self._search_page(industry, count, page)
                out += [_record(i) for i in items if i.get("asin")][:limit - len(out)]
                if len(out) >= limit or len(items) < count:
                    break
        except FetchError as exc:
            raise SourceError(f"Amazon search failed: {exc}") from exc
        return out

    async def fetch_image(self, ref: str) -> bytes:
        return await fetch_url(self.http, ref)


def _record(item: dict) -> ProductRecord:
    info = item.get("itemInfo") or {}
    images = item.get("images") or {}
    urls = [((images.get("primary") or {}).get("large") or {}).get("url")]
    urls += [((v or {}).get("large") or {}).get("url") for v in images.get("variants") or []]
    listings = (item.get("offersV2") or {}).get("listings") or []
    money = ((listings[0].get("price") or {}).get("money") or {}) if listings else {}
    return ProductRecord(
        src="amazon", item_id=item["asin"], title=(info.get("title") or {}).get("displayValue"),
        brand=((info.get("byLineInfo") or {}).get("brand") or {}).get("displayValue"),
        url=item.get("detailPageURL"), price=to_float(money.get("amount")), currency=money.get("currency"),
        images=list(dict.fromkeys(u for u in urls if u)))
