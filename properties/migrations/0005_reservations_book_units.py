import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("properties", "0004_a_unit_for_each_booked_door")]

    operations = [
        migrations.AlterField(
            model_name="reservation",
            name="unit",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="reservations", to="properties.unit"
            ),
        ),
        migrations.RemoveField(model_name="reservation", name="lock"),
    ]
