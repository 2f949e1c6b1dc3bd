"""Operator pages of chatbot, mounted at /chatbot/ (plus the public widget script and demo shop page)."""

from django.urls import path

from apps.chatbot import views

app_name = "chatbot"

urlpatterns = [
    path("", views.home, name="home"),
    path("inbox/state/", views.inbox_state, name="inbox-state"),
    path("conversations/<int:pk>/", views.conversation, name="conversation"),
    path("conversations/<int:pk>/messages/", views.conversation_messages, name="conversation-messages"),
    path("conversations/<int:pk>/claim/", views.claim, name="claim"),
    path("conversations/<int:pk>/reply/", views.reply, name="reply"),
    path("conversations/<int:pk>/transfer/", views.transfer, name="transfer"),
    path("conversations/<int:pk>/close/", views.close, name="close"),
    path("teach/", views.teach, name="teach"),
    path("teach/<int:message_id>/file/", views.teach_file, name="teach-file"),
    path("teach/<int:message_id>/dismiss/", views.teach_dismiss, name="teach-dismiss"),
    path("retrain/", views.retrain, name="retrain"),
    path("returns/<int:pk>/decide/", views.return_decide, name="return-decide"),
    path("widget.js", views.widget_js, name="widget-js"),
    path("faq/<int:pk>/", views.faq_article, name="faq-article"),
    path("demo-shop/", views.demo_shop, name="demo-shop"),
]
