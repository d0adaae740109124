"""
Backup codes were django-otp static tokens, kept in plain text. They move to
BackupCodeDevice as SHA-256 hashes (the same codes keep working) and the plain rows are
deleted. Going back drops the hashes, which cannot become plain codes again: users keep
their authenticator and generate new backup codes.
"""
import hashlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def hash_plain_backup_codes(apps, schema_editor):
    StaticDevice = apps.get_model("otp_static", "StaticDevice")
    BackupCodeDevice = apps.get_model("accounts", "BackupCodeDevice")
    BackupCode = apps.get_model("accounts", "BackupCode")
    for static in StaticDevice.objects.all():
        device = BackupCodeDevice.objects.create(
            user_id=static.user_id, name=static.name, confirmed=static.confirmed, created_at=static.created_at,
            last_used_at=static.last_used_at, throttling_failure_timestamp=static.throttling_failure_timestamp,
            throttling_failure_count=static.throttling_failure_count,
        )
        digests = {hashlib.sha256(token.lower().encode()).hexdigest() for token in static.token_set.values_list("token", flat=True)}
        BackupCode.objects.bulk_create(BackupCode(device=device, code_hash=digest) for digest in digests)
    StaticDevice.objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0005_enrolment_links'),
        ('otp_static', '0003_add_timestamps'),
    ]

    operations = [
        migrations.CreateModel(
            name='BackupCodeDevice',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(help_text='The human-readable name of this device.', max_length=64)),
                ('confirmed', models.BooleanField(default=True, help_text='Is this device ready for use?')),
                ('throttling_failure_timestamp', models.DateTimeField(blank=True, default=None, help_text='A timestamp of the last failed verification attempt. Null if last attempt succeeded.', null=True)),
                ('throttling_failure_count', models.PositiveIntegerField(default=0, help_text='Number of successive failed attempts.')),
                ('created_at', models.DateTimeField(auto_now_add=True, help_text='The date and time when this device was initially created in the system.', null=True)),
                ('last_used_at', models.DateTimeField(blank=True, help_text='The most recent date and time this device was used.', null=True)),
                ('user', models.ForeignKey(help_text='The user that this device belongs to.', on_delete=django.db.models.deletion.CASCADE, to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='BackupCode',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code_hash', models.CharField(editable=False, max_length=64)),
                ('device', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='codes', to='accounts.backupcodedevice')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('device', 'code_hash'), name='accounts_backup_code_unique')],
            },
        ),
        migrations.RunPython(hash_plain_backup_codes, migrations.RunPython.noop, elidable=True),
    ]
