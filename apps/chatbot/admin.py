from django.contrib import admin

from apps.chatbot.models import CannedReply, Conversation, Example, FaqArticle, Intent, Message, Site


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("name", "site_key", "allowed_origins", "is_active", "created_at")
    readonly_fields = ("created_at",)


class ExampleInline(admin.TabularInline):
    model = Example
    extra = 1
    fields = ("text", "source")


@admin.register(Intent)
class IntentAdmin(admin.ModelAdmin):
    list_display = ("name", "action", "description")
    list_filter = ("action",)
    search_fields = ("name", "description")
    inlines = [ExampleInline]


@admin.register(Example)
class ExampleAdmin(admin.ModelAdmin):
    list_display = ("text", "intent", "source", "created_at")
    list_filter = ("source", "intent")
    search_fields = ("text",)


@admin.register(FaqArticle)
class FaqArticleAdmin(admin.ModelAdmin):
    list_display = ("question", "category", "is_active", "updated_at")
    list_filter = ("category", "is_active")
    search_fields = ("question", "answer")


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("sender", "text", "intent", "confidence", "answer_source", "feedback", "created_at")
    readonly_fields = fields
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "site", "customer_external_id", "state", "assigned_to", "rating", "updated_at")
    list_filter = ("state", "site")
    search_fields = ("customer_external_id",)
    inlines = [MessageInline]


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    list_display = ("title", "text")
