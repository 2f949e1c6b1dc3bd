"""Operator pages (inbox, conversation, teaching) and the public pieces: widget.js and the demo shop page."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.decorators import operator_required
from apps.accounts.models import User
from apps.chatbot import selectors, services
from apps.chatbot.demo import DEMO_SITE_KEY
from apps.chatbot.dialogue import DialogueState
from apps.chatbot.families import INTENT_FAMILY
from apps.chatbot.models import Conversation, ConversationState, FaqArticle, Site
from apps.mlops.selectors import production_version

WIDGET_JS = Path(__file__).resolve().parent / "static" / "chatbot" / "widget.js"
DEMO_CUSTOMER = "demo-customer"


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


@operator_required
def home(request: HttpRequest) -> HttpResponse:
    """The operators' inbox: the waiting queue, my conversations, recent ones."""
    context = {
        "waiting": selectors.conversations_waiting(),
        "mine": selectors.conversations_of_operator(user=request.user),
        "recent": selectors.conversations_recent(),
        "production": production_version(family=INTENT_FAMILY),
        "family": INTENT_FAMILY,
        "sites": Site.objects.all(),
        "demo": settings.DOWNSTREAM_DEMO,
        "identity_max_age": settings.CHATBOT_IDENTITY_MAX_AGE,
        "returns": _open_returns(),
    }
    return render(request, "chatbot/inbox.html", context)


def _open_returns() -> list:
    from apps.commerce import selectors as shop

    return list(shop.return_requests(open_only=True)[:50])


@operator_required
@require_POST
def return_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve, reject or mark refunded a return request the bot opened (from the inbox)."""
    from apps.commerce import services as commerce

    try:
        request_row = commerce.return_request_decide(
            request_id=pk, status=request.POST.get("status", ""), decided_by=request.user.get_username(), note=request.POST.get("note", "")
        )
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"Return request #{request_row.pk} is now {request_row.get_status_display().lower()}.")
    return redirect("chatbot:home")


@operator_required
@require_GET
def inbox_state(request: HttpRequest) -> JsonResponse:
    """Counts the inbox page polls when its WebSocket is blocked."""
    waiting = list(selectors.conversations_waiting().values_list("id", flat=True))
    return JsonResponse({"waiting": waiting})


def _customer_context(conversation: Conversation) -> dict:
    context: dict = {"orders": [], "recommendations": None, "recommendations_error": ""}
    if conversation.customer_external_id:
        from apps.commerce import selectors as shop

        context["orders"] = list(shop.customer_orders(external_id=conversation.customer_external_id, limit=5))
        context["returns"] = list(shop.return_requests(customer_external_id=conversation.customer_external_id)[:5])
    try:
        from apps.recommendations.services import recommendations_for
    except ImportError:
        context["recommendations_error"] = "Recommendations are not installed yet."
        return context
    try:
        context["recommendations"] = recommendations_for(customer_external_id=conversation.customer_external_id or None, n=4, in_stock=True)
    except LookupError:  # no recommendation model trained yet
        context["recommendations_error"] = "No recommendation model is trained yet."
    return context


@operator_required
def conversation(request: HttpRequest, pk: int) -> HttpResponse:
    convo = get_object_or_404(Conversation.objects.select_related("site", "assigned_to"), pk=pk)
    context = {
        "conversation": convo,
        "chat_messages": list(selectors.messages_after(conversation=convo)),
        "history": selectors.intent_history(conversation=convo),
        "canned": selectors.canned_replies(),
        "operators": User.objects.filter(is_active=True).exclude(pk=request.user.pk).order_by("username"),
        "mine": convo.state == ConversationState.HUMAN and convo.assigned_to_id == request.user.pk,
        "bot_memory": DialogueState.load(convo.dialogue).summary(),
        **_customer_context(convo),
    }
    context["operators"] = [u for u in context["operators"] if u.is_operator]
    return render(request, "chatbot/conversation.html", context)


@operator_required
@require_GET
def conversation_messages(request: HttpRequest, pk: int) -> JsonResponse:
    """Polling fallback of the operator page."""
    convo = get_object_or_404(Conversation, pk=pk)
    try:
        after = int(request.GET.get("after", "0") or 0)
    except ValueError:
        return JsonResponse({"detail": "after must be a message id.", "errors": {"after": ["Must be an integer."]}}, status=400)
    return JsonResponse({"state": convo.state, "messages": [services.message_public(m) for m in selectors.messages_after(conversation=convo, after_id=after)]})


def _act(request: HttpRequest, pk: int, action) -> HttpResponse:  # noqa: ANN001
    convo = get_object_or_404(Conversation, pk=pk)
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    try:
        result = action(convo)
    except ValidationError as exc:
        if wants_json:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
            return JsonResponse({"detail": _error_text(exc), "errors": errors}, status=400)
        messages.error(request, _error_text(exc))
        return redirect("chatbot:conversation", pk=pk)
    if wants_json:
        return JsonResponse({"ok": True, "message": services.message_public(result) if hasattr(result, "sender") else None}, status=201)
    return redirect("chatbot:conversation", pk=pk)


@operator_required
@require_POST
def claim(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, lambda c: services.conversation_claim(conversation=c, user=request.user))


@operator_required
@require_POST
def reply(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, lambda c: services.operator_reply(conversation=c, user=request.user, text=request.POST.get("text", "")))


@operator_required
@require_POST
def transfer(request: HttpRequest, pk: int) -> HttpResponse:
    to_id = request.POST.get("to_user", "")
    to_user = User.objects.filter(pk=int(to_id)).first() if to_id.isdigit() else None
    if to_id and to_user is None:
        messages.error(request, "Unknown operator.")
        return redirect("chatbot:conversation", pk=pk)
    response = _act(request, pk, lambda c: services.conversation_transfer(conversation=c, user=request.user, to_user=to_user))
    return response if to_user is not None else redirect("chatbot:home")


@operator_required
@require_POST
def close(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, lambda c: services.conversation_close(conversation=c, user=request.user))


@operator_required
def teach(request: HttpRequest) -> HttpResponse:
    context = {"queue": selectors.teaching_queue(), "intents": selectors.intents_all(), "production": production_version(family=INTENT_FAMILY)}
    return render(request, "chatbot/teach.html", context)


@operator_required
@require_POST
def teach_file(request: HttpRequest, message_id: int) -> HttpResponse:
    try:
        example = services.example_file(message_id=message_id, intent_name=request.POST.get("intent", ""))
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"Filed “{example.text[:60]}” as an example of {example.intent.name}. Retrain to teach the bot.")
    return redirect("chatbot:teach")


@operator_required
@require_POST
def teach_dismiss(request: HttpRequest, message_id: int) -> HttpResponse:
    services.message_dismiss(message_id=message_id)
    return redirect("chatbot:teach")


@operator_required
@require_POST
def retrain(request: HttpRequest) -> HttpResponse:
    try:
        run = services.retrain_start(user=request.user)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return redirect("chatbot:teach")
    messages.success(request, f"Training run {run.pk} started.")
    return redirect(reverse("dashboard:run-detail", args=[run.pk]))


# --- Public: the widget script and the demo shop page ------------------------------------------------------


@require_GET
@cache_control(public=True, max_age=300)
def widget_js(request: HttpRequest) -> FileResponse:
    response = FileResponse(WIDGET_JS.open("rb"), content_type="application/javascript; charset=utf-8")
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def faq_article(request: HttpRequest, pk: int) -> HttpResponse:
    """The source article of a FAQ answer (linked from the widget)."""
    article = get_object_or_404(FaqArticle, pk=pk, is_active=True)
    return render(request, "chatbot/faq_article.html", {"article": article})


@require_GET
def demo_shop(request: HttpRequest) -> HttpResponse:
    """A shop page embedding the widget; ``?signed_in=1`` identifies the demo customer (HMAC by the 'shop').

    Demo mode only (``DOWNSTREAM_DEMO``): the page signs a customer id for anyone who asks, so it must never run
    with a real site's secret. It uses the demo site and no other."""
    if not settings.DOWNSTREAM_DEMO:
        raise Http404("The demo shop exists only in demo mode (DOWNSTREAM_DEMO).")
    site = Site.objects.filter(site_key=DEMO_SITE_KEY, is_active=True).first()  # the page says so when it is missing
    signed_in = request.GET.get("signed_in") == "1"
    signature = services.customer_signature(site=site, customer_external_id=DEMO_CUSTOMER) if (site and signed_in) else ""
    return render(request, "chatbot/demo_shop.html", {"site": site, "signed_in": signed_in, "customer": DEMO_CUSTOMER, "signature": signature})
