from django.db import migrations, models


class Migration(migrations.Migration):
    # Its own migration (transaction): PostgreSQL refuses to alter a table with pending trigger events, which the
    # deletions of duplicate reviews in 0002 leave behind.

    dependencies = [
        ("inspection", "0002_one_review_per_result_finite_settings"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="review",
            constraint=models.UniqueConstraint(fields=("result",), name="inspection_one_review_per_result"),
        ),
    ]
