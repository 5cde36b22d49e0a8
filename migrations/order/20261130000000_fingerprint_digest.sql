-- The idempotency fingerprint was the request body, card token included. Keep its SHA-256 (hex of
-- the same UTF-8 text, as the service now computes it), so a retry of an old request still matches.
update orders
set request_fingerprint = encode(sha256(convert_to(request_fingerprint, 'UTF8')), 'hex')
where request_fingerprint is not null and request_fingerprint like '{%';
