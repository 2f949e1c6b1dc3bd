import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from apps.chatbot import services
from apps.chatbot.models import Example, FaqArticle, Intent

pytestmark = pytest.mark.django_db


def test_examples_csv_creates_intents_and_skips_duplicates_and_invalid_rows():
    data = "text,intent\nwhere is my order,order_status\nwhere is my order,order_status\n,returns\nrefund please,Returns\n"
    result = services.examples_import_csv(data=data.encode())
    assert result == {"created": 2, "skipped": 1, "invalid": 1, "new_intents": 2}
    assert set(Intent.objects.values_list("name", flat=True)) == {"order_status", "returns"}


def test_banking77_style_csv_through_the_command(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(
        'text,category\nI am still waiting on my card?,card_arrival\n"What can I do if my card still hasn\'t arrived?",card_arrival\nHow do I top up?,top_up\n'
    )
    call_command("import_intents", str(path))
    assert Example.objects.filter(intent__name="card_arrival").count() == 2
    assert Example.objects.filter(intent__name="top_up").count() == 1


def test_bad_files_are_refused_clearly():
    with pytest.raises(ValidationError, match="Missing column"):
        services.examples_import_csv(data=b"foo,bar\n1,2\n")
    with pytest.raises(ValidationError, match="UTF-8"):
        services.examples_import_csv(data=b"\xff\xfe\x00garbage")
    with pytest.raises(ValidationError, match="Missing column"):
        services.faq_import_csv(data=b"question\nonly\n")


def test_faq_csv_creates_and_updates_articles():
    first = services.faq_import_csv(data=b"Question,Answer,Class\nHow do I pay?,By card.,payment\nEmpty,,x\n")
    assert first == {"created": 1, "updated": 0, "invalid": 1}
    second = services.faq_import_csv(data=b"question,answer\nHow do I pay?,By card or PayPal.\n")
    assert second == {"created": 0, "updated": 1, "invalid": 0}
    assert FaqArticle.objects.get().answer == "By card or PayPal."


def test_demo_seeder_is_idempotent():
    from apps.chatbot.demo import seed_demo
    from apps.chatbot.models import Site

    first = seed_demo()
    counts = (Intent.objects.count(), Example.objects.count(), FaqArticle.objects.count(), Site.objects.count())
    second = seed_demo()
    assert (Intent.objects.count(), Example.objects.count(), FaqArticle.objects.count(), Site.objects.count()) == counts
    assert "+0 examples" in second and "+0)" in second and first != second
    assert Intent.objects.filter(name="out_of_scope").exists() and counts[1] > 140
