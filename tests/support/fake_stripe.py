"""Stripe, faked at the HTTP layer: the part of its REST API the service uses.

It keeps objects in memory, honours idempotency keys as Stripe does (the same
key and parameters answer the first answer again; the same key with other
parameters is a 400 ``idempotency_error``), records every request, can be
told to fail the next requests, and makes events signed with Stripe's real
scheme. Tests move objects through their lives with ``succeed``, ``fail``,
``process``, ``dispute`` and the like, each of which also records the event
Stripe would send.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
from pydantic import SecretStr

from asset_anchor.integrations.stripe import API_VERSION, sign
from asset_anchor.settings import Settings

API_URL = "https://stripe.test"
SECRET_KEY = "sk_test_fake_key_for_tests_only_0000000000"
WEBHOOK_SECRET = "whsec_platform_secret_for_tests"
CONNECT_WEBHOOK_SECRET = "whsec_connect_secret_for_tests"

Reply = httpx.Response | Exception


def with_stripe(settings: Settings) -> Settings:
    """The settings with Stripe's keys set and its address the fake's."""
    return settings.model_copy(
        update={
            "stripe_secret_key": SecretStr(SECRET_KEY),
            "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "stripe_connect_webhook_secret": SecretStr(CONNECT_WEBHOOK_SECRET),
            "stripe_api_url": API_URL,
        }
    )


def _nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back into nested dicts (lists as index dicts)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return root


class FakeStripe:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.requests: list[httpx.Request] = []
        self.failures: list[tuple[str, Reply, str | None]] = []
        self._keys: dict[str, tuple[str, httpx.Response]] = {}
        self._ids = itertools.count(1)
        self.now = int(time.time())

    # --- plumbing -------------------------------------------------------------

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    def fail_next(
        self, path_prefix: str, reply: Reply, *, method: str | None = None
    ) -> None:
        """The next request whose path starts with ``path_prefix`` (and of
        ``method``, when given) gets ``reply``."""
        self.failures.append((path_prefix, reply, method))

    def forget_keys(self) -> None:
        """Idempotency keys expire (Stripe keeps them about a day)."""
        self._keys.clear()

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}"

    def sent(self, method: str, path_prefix: str) -> list[httpx.Request]:
        return [
            r
            for r in self.requests
            if r.method == method and r.url.path.startswith(path_prefix)
        ]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.headers["authorization"] == f"Bearer {SECRET_KEY}"
        assert request.headers["stripe-version"] == API_VERSION
        for index, (prefix, reply, method) in enumerate(self.failures):
            if request.url.path.startswith(prefix) and method in (
                None,
                request.method,
            ):
                del self.failures[index]
                if isinstance(reply, Exception):
                    raise reply
                return reply
        params = (
            _nest(parse_qsl(request.content.decode(), keep_blank_values=True))
            if request.method == "POST"
            else _nest(list(request.url.params.multi_items()))
        )
        key = request.headers.get("idempotency-key")
        fingerprint = (
            f"{request.method} {request.url.path} {json.dumps(params, sort_keys=True)}"
        )
        if key is not None and key in self._keys:
            seen, answer = self._keys[key]
            if seen != fingerprint:
                return self.error(
                    400, "idempotency_error", "Keys reused with other parameters."
                )
            return answer
        answer = self.route(request.method, request.url.path, params)
        if key is not None and answer.status_code < 500:
            self._keys[key] = (fingerprint, answer)
        return answer

    @staticmethod
    def error(
        status: int, error_type: str, message: str, code: str | None = None
    ) -> httpx.Response:
        return httpx.Response(
            status,
            json={"error": {"type": error_type, "message": message, "code": code}},
            headers={"request-id": "req_fake"},
        )

    def route(self, method: str, path: str, params: dict[str, Any]) -> httpx.Response:
        parts = path.strip("/").split("/")[1:]
        handlers: dict[tuple[str, int, str], Callable[..., dict[str, Any]]] = {
            ("POST", 1, "accounts"): self._create_account,
            ("POST", 1, "account_links"): self._create_account_link,
            ("POST", 1, "payment_intents"): self._create_payment_intent,
            ("POST", 1, "refunds"): self._create_refund,
            ("POST", 1, "transfers"): self._create_transfer,
        }
        if (method, len(parts), parts[0]) in handlers:
            return httpx.Response(
                200, json=handlers[(method, len(parts), parts[0])](params)
            )
        if method == "POST" and len(parts) == 3 and parts[2] == "reversals":
            return self._reverse_transfer(parts[1], params)
        if method == "GET" and len(parts) == 2:
            found = self.objects.get(parts[1])
            if found is None:
                return self.error(
                    404, "invalid_request_error", "No such object.", "resource_missing"
                )
            return httpx.Response(200, json=self._expanded(found, params))
        if method == "GET" and parts == ["events"]:
            return httpx.Response(200, json=self._list(self.events, params))
        if method == "GET" and len(parts) == 3 and parts[2] == "reversals":
            reversals = [
                o
                for o in self.objects.values()
                if o["object"] == "transfer_reversal" and o["transfer"] == parts[1]
            ]
            return httpx.Response(200, json=self._list(reversals, params))
        if method == "GET" and parts == ["transfers"]:
            transfers = [
                o
                for o in self.objects.values()
                if o["object"] == "transfer"
                and o["destination"] == params.get("destination")
            ]
            return httpx.Response(200, json=self._list(transfers, params))
        if method == "GET" and parts == ["refunds"]:
            refunds = [
                o
                for o in self.objects.values()
                if o["object"] == "refund" and o["charge"] == params.get("charge")
            ]
            return httpx.Response(200, json=self._list(refunds, params))
        if method == "GET" and parts == ["payment_intents"]:
            intents = [
                o for o in self.objects.values() if o["object"] == "payment_intent"
            ]
            return httpx.Response(200, json=self._list(intents, params))
        return self.error(
            404, "invalid_request_error", f"Unrecognized request URL {path}."
        )

    def _list(
        self, items: list[dict[str, Any]], params: dict[str, Any]
    ) -> dict[str, Any]:
        since = int(params.get("created", {}).get("gte", 0))
        chosen = sorted(
            (item for item in items if item["created"] >= since),
            key=lambda item: item["created"],
            reverse=True,
        )
        after = params.get("starting_after")
        if after:
            ids = [item["id"] for item in chosen]
            chosen = chosen[ids.index(after) + 1 :] if after in ids else []
        limit = int(params.get("limit", 10))
        return {
            "object": "list",
            "data": chosen[:limit],
            "has_more": len(chosen) > limit,
        }

    def _expanded(
        self, found: dict[str, Any], params: dict[str, Any]
    ) -> dict[str, Any]:
        shown = dict(found)
        expand = set(params.get("expand", {}).values())
        if "latest_charge" in expand and isinstance(shown.get("latest_charge"), str):
            shown["latest_charge"] = self.objects[shown["latest_charge"]]
        if "refunds" in expand and shown.get("object") == "charge":
            refunds = [
                o
                for o in self.objects.values()
                if o["object"] == "refund" and o["charge"] == shown["id"]
            ]
            shown["refunds"] = {"object": "list", "data": refunds, "has_more": False}
        return shown

    # --- objects ----------------------------------------------------------------

    def _create_account(self, params: dict[str, Any]) -> dict[str, Any]:
        account = {
            "id": self.new_id("acct"),
            "object": "account",
            "type": params.get("type"),
            "country": params.get("country"),
            "email": params.get("email"),
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": False,
            "metadata": params.get("metadata", {}),
            "created": self.now,
        }
        self.objects[account["id"]] = account
        return account

    def _create_account_link(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "object": "account_link",
            "url": f"https://connect.stripe.test/setup/{params['account']}",
            "expires_at": self.now + 300,
            "created": self.now,
        }

    def _create_payment_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        intent_id = self.new_id("pi")
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(params["amount"]),
            "amount_received": 0,
            "currency": params["currency"],
            "status": "requires_payment_method",
            "client_secret": f"{intent_id}_secret_fake",
            "payment_method_types": list(
                params.get("payment_method_types", {}).values()
            ),
            "transfer_data": params.get("transfer_data", {}),
            "application_fee_amount": int(params["application_fee_amount"])
            if "application_fee_amount" in params
            else None,
            "metadata": params.get("metadata", {}),
            "latest_charge": None,
            "last_payment_error": None,
            "created": self.now,
        }
        self.objects[intent_id] = intent
        return intent

    def _create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        intent = self.objects[params["payment_intent"]]
        charge = self.objects[intent["latest_charge"]]
        refund = {
            "id": self.new_id("re"),
            "object": "refund",
            "amount": int(params["amount"]),
            "charge": charge["id"],
            "payment_intent": intent["id"],
            "status": "succeeded",
            "metadata": params.get("metadata", {}),
            "reverse_transfer": params.get("reverse_transfer") == "true",
            "refund_application_fee": params.get("refund_application_fee") == "true",
            "created": self.now,
        }
        self.objects[refund["id"]] = refund
        charge["amount_refunded"] += refund["amount"]
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        return refund

    def _create_transfer(self, params: dict[str, Any]) -> dict[str, Any]:
        transfer = {
            "id": self.new_id("tr"),
            "object": "transfer",
            "amount": int(params["amount"]),
            "amount_reversed": 0,
            "currency": params["currency"],
            "destination": params["destination"],
            "source_transaction": params.get("source_transaction"),
            "metadata": params.get("metadata", {}),
            "created": self.now,
        }
        self.objects[transfer["id"]] = transfer
        return transfer

    def _reverse_transfer(
        self, transfer_id: str, params: dict[str, Any]
    ) -> httpx.Response:
        transfer = self.objects.get(transfer_id)
        if transfer is None:
            return self.error(
                404, "invalid_request_error", "No such transfer.", "resource_missing"
            )
        amount = int(params["amount"])
        if amount > transfer["amount"] - transfer["amount_reversed"]:
            return self.error(
                400,
                "invalid_request_error",
                "The reversal is more than is left of the transfer.",
            )
        transfer["amount_reversed"] += amount
        reversal = {
            "id": self.new_id("trr"),
            "object": "transfer_reversal",
            "amount": amount,
            "transfer": transfer_id,
            "refund_application_fee": params.get("refund_application_fee") == "true",
            "metadata": params.get("metadata", {}),
            "created": self.now,
        }
        self.objects[reversal["id"]] = reversal
        return httpx.Response(200, json=reversal)

    # --- lives of objects, and their events -------------------------------------

    def event(
        self, event_type: str, obj: dict[str, Any], *, account: str | None = None
    ) -> dict[str, Any]:
        """The event Stripe sends about ``obj`` as it is now (a copy)."""
        self.now += 1
        event = {
            "id": self.new_id("evt"),
            "object": "event",
            "type": event_type,
            "created": self.now,
            "livemode": False,
            "api_version": API_VERSION,
            "data": {"object": json.loads(json.dumps(obj))},
        }
        if account is not None:
            event["account"] = account
        self.events.append(event)
        return event

    def signed(
        self,
        event: dict[str, Any],
        secret: str = WEBHOOK_SECRET,
        *,
        at: int | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(event).encode()
        header = sign(
            body, secret, timestamp=at if at is not None else int(time.time())
        )
        return body, {"Stripe-Signature": header, "Content-Type": "application/json"}

    def _charge_for(self, intent: dict[str, Any]) -> dict[str, Any]:
        if intent.get("latest_charge"):
            return self.objects[intent["latest_charge"]]
        charge = {
            "id": self.new_id("ch"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_refunded": 0,
            "currency": intent["currency"],
            "refunded": False,
            "payment_intent": intent["id"],
            "disputed": False,
            "transfer_data": intent.get("transfer_data") or {},
            "transfer": None,
            "created": self.now,
        }
        destination = charge["transfer_data"].get("destination")
        if destination:
            # A destination charge's money goes to the account as it is made.
            charge["transfer"] = self._create_transfer(
                {
                    "amount": intent["amount"],
                    "currency": intent["currency"],
                    "destination": destination,
                    "source_transaction": charge["id"],
                }
            )["id"]
        self.objects[charge["id"]] = charge
        intent["latest_charge"] = charge["id"]
        return charge

    def process(self, intent_id: str) -> dict[str, Any]:
        intent = self.objects[intent_id]
        intent["status"] = "processing"
        self._charge_for(intent)
        return self.event("payment_intent.processing", intent)

    def succeed(self, intent_id: str) -> dict[str, Any]:
        intent = self.objects[intent_id]
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
        intent["last_payment_error"] = None
        self._charge_for(intent)
        return self.event("payment_intent.succeeded", intent)

    def fail(
        self, intent_id: str, message: str = "Insufficient funds."
    ) -> dict[str, Any]:
        intent = self.objects[intent_id]
        intent["status"] = "requires_payment_method"
        intent["amount_received"] = 0
        intent["last_payment_error"] = {"code": "payment_failed", "message": message}
        return self.event("payment_intent.payment_failed", intent)

    def update_account(self, account_id: str, **state: Any) -> dict[str, Any]:
        account = self.objects[account_id]
        account.update(state)
        return self.event("account.updated", account, account=account_id)

    def deauthorize(self, account_id: str) -> dict[str, Any]:
        """The account's owner disconnects it from the platform."""
        application = {"id": "ca_fake_platform", "object": "application"}
        return self.event(
            "account.application.deauthorized", application, account=account_id
        )

    def dispute(
        self, charge_id: str, *, status: str = "needs_response"
    ) -> dict[str, Any]:
        charge = self.objects[charge_id]
        charge["disputed"] = True
        dispute = {
            "id": self.new_id("dp"),
            "object": "dispute",
            "amount": charge["amount"],
            "charge": charge_id,
            "payment_intent": charge["payment_intent"],
            "status": status,
            "reason": "fraudulent",
            "created": self.now,
        }
        self.objects[dispute["id"]] = dispute
        return self.event("charge.dispute.created", dispute)

    def close_dispute(self, dispute_id: str, status: str) -> dict[str, Any]:
        dispute = self.objects[dispute_id]
        dispute["status"] = status
        return self.event("charge.dispute.closed", dispute)
