"""Where reports go, through boto3 exactly as in AWS: the documents into S3 (server-side encrypted, downloaded by
presigned URLs), the jobs onto SQS, the subscription emails through SES. The API uses the first two (it queues
requests and presigns links); the ``reports`` function all three."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any

import orjson


class S3ReportFiles:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def put(self, key: str, body: IO[bytes], content_type: str, file_name: str) -> int:
        """Upload ``body`` (multipart when large), encrypted at rest whatever the bucket's default; its size."""
        body.seek(0, 2)
        size = body.tell()
        body.seek(0)
        self.s3.upload_fileobj(
            body,
            self.bucket,
            key,
            ExtraArgs={
                "ContentType": content_type,
                "ContentDisposition": f'attachment; filename="{file_name}"',
                "ServerSideEncryption": "AES256",
            },
        )
        return size

    def download_url(self, key: str, file_name: str, content_type: str, ttl_s: int) -> str:
        return str(
            self.s3.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": f'attachment; filename="{file_name}"',
                    "ResponseContentType": content_type,
                },
                ExpiresIn=ttl_s,
            )
        )


class SqsReportQueue:
    """Report jobs as ``{"tenant_id", "report_id"}`` messages; the queue URL is looked up once when not given."""

    def __init__(self, sqs: Any, queue_url: str | None, queue_name: str) -> None:
        self.sqs, self._url, self.queue_name = sqs, queue_url, queue_name

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = str(self.sqs.get_queue_url(QueueName=self.queue_name)["QueueUrl"])
        return self._url

    def send(self, tenant_id: str, report_id: str) -> None:
        body = orjson.dumps({"tenant_id": tenant_id, "report_id": report_id}).decode()
        self.sqs.send_message(QueueUrl=self.url, MessageBody=body)


class SesMailer:
    def __init__(self, ses: Any) -> None:
        self.ses = ses

    def send(self, sender: str, recipients: Sequence[str], subject: str, text: str, html: str) -> str:
        reply = self.ses.send_email(
            Source=sender,
            Destination={"ToAddresses": list(recipients)},
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text, "Charset": "UTF-8"}, "Html": {"Data": html, "Charset": "UTF-8"}},
            },
        )
        return str(reply["MessageId"])
