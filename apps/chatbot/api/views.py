"""The widget's HTTP API (the fallback when WebSockets are blocked) and the operators' import endpoints.

Widget endpoints are public: the site key opens a session, the signed session token (header
``X-Chat-Token``) then names the conversation. They answer any origin (CORS) because the widget runs on the
shop's pages; no cookies are involved.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsOperator
from apps.chatbot import selectors, services
from apps.chatbot.api import serializers as s
from apps.chatbot.models import Conversation, ConversationState
from apps.core.api.errors import ErrorSerializer
from apps.core.api.responses import BODY_TOO_LARGE, RATE_LIMITED
from apps.core.clients import request_client_key

WEBSOCKET_PATH = "/ws/chatbot/widget/"
WIDGET_ERRORS = {413: BODY_TOO_LARGE, 429: RATE_LIMITED}


class ChatSessionInvalid(exceptions.APIException):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_detail = "The chat session is invalid or expired; start a new one."


class ChatBusy(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The chat is very busy right now; send the message again shortly."

    def __init__(self, detail: str, wait: int) -> None:
        super().__init__(detail)
        self.wait = wait  # DRF's handler turns it into Retry-After


CHAT_BUSY = OpenApiResponse(ErrorSerializer, description="This web process answers as many messages as it may at once; retry after Retry-After seconds.")


class WidgetView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []  # the services rate-limit per client, per site and per conversation
    parser_classes = [JSONParser]
    # Public and unauthenticated: small JSON bodies only (apps.core.limits), refused with 413 before they are read.
    max_body_setting = "CHATBOT_WIDGET_MAX_BODY_BYTES"
    schema_error_statuses = {401: "The chat session (X-Chat-Token) is invalid or expired.", 429: "Too many messages or sessions; retry later."}

    def initial(self, request: Request, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().initial(request, *args, **kwargs)
        if request.method != "OPTIONS":
            services.widget_request_allow(client=request_client_key(request))

    def finalize_response(self, request, response, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Allow-Headers"] = "Content-Type, X-Chat-Token"
        response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        return response

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, services.RateLimited):
            exc = exceptions.Throttled(wait=exc.retry_after, detail=str(exc))
        elif isinstance(exc, services.Busy):
            exc = ChatBusy(str(exc), exc.retry_after)
        elif isinstance(exc, services.SessionInvalid):
            exc = ChatSessionInvalid(str(exc))
        elif isinstance(exc, services.OriginRefused):
            exc = exceptions.PermissionDenied(str(exc))
        return super().handle_exception(exc)

    def conversation(self, request: Request, *, after_close: bool = False) -> Conversation:
        conversation = services.conversation_from_token(request.headers.get("X-Chat-Token", ""), after_close=after_close)
        services.origin_check(site=conversation.site, origin=request.headers.get("Origin"), own_host=request.get_host())
        return conversation


def _session_payload(conversation: Conversation) -> dict:
    return {
        "token": services.session_token(conversation=conversation),
        "conversation_id": conversation.pk,
        "state": conversation.state,
        "identified": bool(conversation.customer_external_id),
        "messages": [services.message_public(m) for m in selectors.messages_after(conversation=conversation)],
        "websocket_path": WEBSOCKET_PATH,
    }


class SessionStartApi(WidgetView):
    @extend_schema(
        request=s.SessionStartInput,
        responses={201: s.SessionOutput, 200: s.SessionOutput, **WIDGET_ERRORS},
        tags=["chatbot widget"],
        summary="Open (or resume) a chat session",
    )
    def post(self, request: Request) -> Response:
        data = s.SessionStartInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if v["token"]:
            try:
                conversation = services.conversation_from_token(v["token"])
            except services.SessionInvalid:
                conversation = None
            same_customer = conversation is not None and conversation.customer_external_id == (v["customer_id"] or "")
            if conversation is not None and same_customer and conversation.site.site_key == v["site_key"] and conversation.state != "closed":
                services.origin_check(site=conversation.site, origin=request.headers.get("Origin"), own_host=request.get_host())
                return Response(_session_payload(conversation))
        conversation = services.session_start(
            site_key=v["site_key"],
            customer_id=v["customer_id"],
            signature=v["customer_signature"],
            client=request_client_key(request),
            origin=request.headers.get("Origin"),
            own_host=request.get_host(),
        )
        return Response(_session_payload(conversation), status=status.HTTP_201_CREATED)


class MessagesApi(WidgetView):
    @extend_schema(
        parameters=[
            OpenApiParameter("after", int, description="Only messages with a larger id (polling)."),
            OpenApiParameter("X-Chat-Token", str, OpenApiParameter.HEADER, required=True),
        ],
        responses={200: s.MessagesOutput, 429: RATE_LIMITED},
        tags=["chatbot widget"],
        summary="Poll the conversation's messages",
    )
    def get(self, request: Request) -> Response:
        # A closed chat's last messages (the rating question) can still be read for a short while.
        conversation = self.conversation(request, after_close=True)
        try:
            after = int(request.query_params.get("after", "0") or 0)
        except ValueError:
            raise ValidationError({"after": ["Must be a message id (an integer)."]}) from None
        messages = [services.message_public(m) for m in selectors.messages_after(conversation=conversation, after_id=after)]
        return Response({"state": conversation.state, "messages": messages})

    @extend_schema(
        request=s.MessageInput,
        parameters=[OpenApiParameter("X-Chat-Token", str, OpenApiParameter.HEADER, required=True)],
        responses={201: s.MessagesOutput, **WIDGET_ERRORS, 503: CHAT_BUSY},
        tags=["chatbot widget"],
        summary="Send a message; the bot's reply comes back in the response (and over the WebSocket)",
    )
    def post(self, request: Request) -> Response:
        conversation = self.conversation(request)
        data = s.MessageInput(data=request.data)
        data.is_valid(raise_exception=True)
        created = services.customer_message_post(conversation=conversation, text=data.validated_data["text"])
        # The bot answered only if it still has the conversation (an answer never hands it off): no query then.
        state = ConversationState.BOT if len(created) > 1 else Conversation.objects.values_list("state", flat=True).get(pk=conversation.pk)
        return Response({"state": state, "messages": [services.message_public(m) for m in created]}, status=status.HTTP_201_CREATED)


class FeedbackApi(WidgetView):
    @extend_schema(request=s.FeedbackInput, responses={204: None, **WIDGET_ERRORS}, tags=["chatbot widget"], summary="Thumbs up or down on a bot answer")
    def post(self, request: Request, message_id: int) -> Response:
        conversation = self.conversation(request)
        data = s.FeedbackInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.feedback_set(conversation=conversation, message_id=message_id, value=data.validated_data["value"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class HandoffApi(WidgetView):
    @extend_schema(request=None, responses={200: s.StateOutput, **WIDGET_ERRORS}, tags=["chatbot widget"], summary="Ask for a human")
    def post(self, request: Request) -> Response:
        conversation = services.handoff_request(conversation=self.conversation(request), reason="customer asked")
        return Response({"state": conversation.state})


class RatingApi(WidgetView):
    @extend_schema(request=s.RatingInput, responses={204: None, **WIDGET_ERRORS}, tags=["chatbot widget"], summary="Rate the conversation (1–5)")
    def post(self, request: Request) -> Response:
        data = s.RatingInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.conversation_rate(conversation=self.conversation(request, after_close=True), rating=data.validated_data["rating"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class ClickApi(WidgetView):
    @extend_schema(request=s.ClickInput, responses={204: None, **WIDGET_ERRORS}, tags=["chatbot widget"], summary="Record a click on a recommended product")
    def post(self, request: Request) -> Response:
        data = s.ClickInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.click_record(conversation=self.conversation(request), **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _ImportApi(APIView):
    permission_classes = [IsOperator]
    required_scopes = {"read": "chatbot:read", "write": "chatbot:write"}
    parser_classes = [MultiPartParser]

    def read_file(self, request: Request) -> bytes:
        data = s.CsvImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        return data.validated_data["file"].read()


class ExamplesImportApi(_ImportApi):
    @extend_schema(
        request={"multipart/form-data": s.CsvImportInput},
        responses=s.ImportOutput,
        tags=["chatbot"],
        summary="Import intent examples from CSV (text,intent or text,category)",
    )
    def post(self, request: Request) -> Response:
        raw = self.read_file(request)
        head = raw[:2000].decode("utf-8-sig", errors="replace").splitlines()[0].lower() if raw else ""
        column = "intent" if "intent" in head else "category"
        return Response(services.examples_import_csv(data=raw, intent_column=column))


class FaqImportApi(_ImportApi):
    @extend_schema(
        request={"multipart/form-data": s.CsvImportInput},
        responses=s.ImportOutput,
        tags=["chatbot"],
        summary="Import FAQ articles from CSV (question,answer[,category])",
    )
    def post(self, request: Request) -> Response:
        return Response(services.faq_import_csv(data=self.read_file(request)))
