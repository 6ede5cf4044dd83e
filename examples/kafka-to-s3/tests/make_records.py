"""Writes the binary records `payments.yaml` (the test file beside this script) feeds
to the walkthrough's pipeline: two Payments framed as Confluent's ProtobufSerializer
frames them (magic byte, schema id, message index 0), and one record that is not
framed. Run it again after changing schemas/payments-value/1.proto:

    python3 examples/kafka-to-s3/tests/make_records.py
"""
import datetime as dt
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from produce import payment_class  # noqa: E402

# `weir schema list --registry schemas`: the id of payments-value version 1.
SCHEMA_ID = 1332497607


def framed(payment):
    return b"\x00" + struct.pack(">I", SCHEMA_ID) + b"\x00" + payment.SerializeToString()


def main():
    Payment = payment_class()
    out = os.path.join(HERE, "records")
    os.makedirs(out, exist_ok=True)
    paid = dt.datetime(2026, 11, 30, 22, 5, tzinfo=dt.timezone.utc)
    for i, (cents, status) in enumerate([(1250, "CAPTURED"), (990, "DECLINED")], start=1):
        p = Payment(id=f"pay-{i:06d}", account="acct-001", amount_cents=cents,
                    currency="EUR", status=status, attributes={"channel": "web"})
        p.paid_at.FromDatetime(paid + dt.timedelta(minutes=i))
        with open(os.path.join(out, f"payment-{i}.bin"), "wb") as f:
            f.write(framed(p))
    with open(os.path.join(out, "not-framed.bin"), "wb") as f:
        f.write(b'{"id": "pay-x"}')


if __name__ == "__main__":
    main()
