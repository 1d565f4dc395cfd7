#!/usr/bin/env bash
# APP_COOKIE_CMD of the shared page benchmark: signs in to the CRM app through the real
# login form (GET /login for the session + CSRF token, POST the form with curl) and
# prints the `Cookie:` header the harness sends with every request.
#
#   bench/app_cookie.sh [BASE_URL] [USER] [PASSWORD]
#   # default http://127.0.0.1:$APP_PORT bench benchpass
#
# Fails (exit 1, reason on stderr) unless the POST answers 303 and the cookie then opens
# a signed-in page, so the harness never measures the login page by mistake.
set -euo pipefail

BASE=${1:-http://127.0.0.1:${APP_PORT:-8103}}
USER_NAME=${2:-bench}
PASSWORD=${3:-benchpass}
JAR=$(mktemp)
trap 'rm -f "$JAR"' EXIT

form=$(curl -sS --fail -c "$JAR" -b "$JAR" "$BASE/login")
token=$(printf '%s' "$form" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n 1)
[ -n "$token" ] || { echo "no csrf_token field in the login form at $BASE/login" >&2; exit 1; }

code=$(curl -sS -o /dev/null -w '%{http_code}' -c "$JAR" -b "$JAR" \
    --data-urlencode "csrf_token=$token" --data-urlencode "username=$USER_NAME" \
    --data-urlencode "password=$PASSWORD" --data-urlencode "next=/" "$BASE/login")
[ "$code" = 303 ] || { echo "POST $BASE/login answered $code, expected 303 (wrong user or password?)" >&2; exit 1; }

# Netscape cookie jar: domain flag path secure expiry name value (HttpOnly lines start with #HttpOnly_)
cookie=$(sed -e 's/^#HttpOnly_//' -e '/^#/d' -e '/^$/d' "$JAR" | awk -F'\t' '{ printf "%s%s=%s", sep, $6, $7; sep="; " }')
[ -n "$cookie" ] || { echo "the login set no cookie" >&2; exit 1; }

code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "$BASE/")
[ "$code" = 200 ] || { echo "GET $BASE/ with the new cookie answered $code, expected 200" >&2; exit 1; }
echo "Cookie: $cookie"
