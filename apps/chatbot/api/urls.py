"""REST API of chatbot, mounted at /api/v1/chatbot/."""

from django.urls import path

from apps.chatbot.api import views

urlpatterns = [
    path("widget/sessions/", views.SessionStartApi.as_view(), name="chatbot-widget-session"),
    path("widget/messages/", views.MessagesApi.as_view(), name="chatbot-widget-messages"),
    path("widget/messages/<int:message_id>/feedback/", views.FeedbackApi.as_view(), name="chatbot-widget-feedback"),
    path("widget/handoff/", views.HandoffApi.as_view(), name="chatbot-widget-handoff"),
    path("widget/rating/", views.RatingApi.as_view(), name="chatbot-widget-rating"),
    path("widget/clicks/", views.ClickApi.as_view(), name="chatbot-widget-click"),
    path("examples/import/", views.ExamplesImportApi.as_view(), name="chatbot-examples-import"),
    path("faq/import/", views.FaqImportApi.as_view(), name="chatbot-faq-import"),
]
