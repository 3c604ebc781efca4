/* dns/base64url.c - not written yet */
