"""REST API of chatbot, mounted at /api/v1/chatbot/."""

urlpatterns: list = []
