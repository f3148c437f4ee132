# Helpers shared by the scripts that deploy vodflow beside the local stack (sourced): an isolated
# deployment (its own database, topics and task queues) started and dropped, uploads, waiting,
# results.
CACHE="${VODFLOW_CACHE:-$HOME/.cache/vodflow}"
T="${CARGO_TARGET_DIR:-$CACHE/target}"
V="$T/release/vodflow"
export PGPASSWORD=vodflow
RESULTS="${BENCH_RESULTS:-/dev/null}"

# result KEY VALUE: one figure for the final table.
result() { echo "$1 $2" >>"$RESULTS"; echo "  $1 = $2" >&2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# deployment_env: exports an isolated configuration (database created) for the processes to come.
deployment_env() {
  BENCH_SUFFIX=$(od -An -tx1 -N6 /dev/urandom | tr -d ' \n'); BENCH_DB="vodflow_bench_$BENCH_SUFFIX"
  BENCH_PORT=$(free_port)
  psql -q -h 127.0.0.1 -U vodflow -d vodflow -c "CREATE DATABASE $BENCH_DB"
  export VODFLOW_DATABASE_URL="postgres://vodflow:vodflow@127.0.0.1:5432/$BENCH_DB" VODFLOW_API_LISTEN="127.0.0.1:$BENCH_PORT" \
    VODFLOW_KAFKA_TOPIC_PREFIX="bench$BENCH_SUFFIX." VODFLOW_TASK_QUEUE_PREFIX="bench$BENCH_SUFFIX." VODFLOW_LOG=warn \
    VODFLOW_METRICS_LISTEN="127.0.0.1:$(free_port)" VODFLOW_PUBLIC_URL="http://127.0.0.1:$BENCH_PORT"
  BASE="http://127.0.0.1:$BENCH_PORT"
}

deployment_drop() {
  psql -q -h 127.0.0.1 -U vodflow -d vodflow -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" || true
  # The worker created its reconciler schedule; it would go on firing for nobody.
  "$CACHE/bin/temporal" schedule delete --address 127.0.0.1:7233 --schedule-id "bench$BENCH_SUFFIX.vodflow-reconciler" >/dev/null 2>&1 || true
}

# deployment_start LOG: `vodflow dev` in the background on the deployment_env configuration, its
# pid in DEV, waits until it answers. The caller's cleanup kills $DEV and calls deployment_drop.
deployment_start() {
  "$V" dev >"$1" 2>&1 &
  DEV=$!
  wait_healthy || { tail -20 "$1" >&2; return 1; }
}

wait_healthy() { for _ in $(seq 1 200); do curl -sf "$BASE/healthz" >/dev/null && return 0; sleep 0.1; done; echo "api did not start" >&2; return 1; }

bench_token() { "$V" token issue --sub bench --ttl 2h; }

# upload FILE: POSTs it, prints the video id.
upload() {
  curl -sf -H "Authorization: Bearer $TOKEN" -F title=bench -F "file=@$1" "$BASE/v1/videos" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

status_of() {
  curl -sf -H "Authorization: Bearer $TOKEN" "$BASE/v1/videos/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'
}

now() { date +%s.%N; }

# wait_ready ID T0: waits for `ready`; sets PLAYABLE_S and READY_S (seconds from T0). PLAYABLE_S
# is measured as a player would see it, not as a status flip: from the first `playable` (or
# `ready`) answer, the master playlist, its first media playlist, that playlist's init segment and
# first media segment are fetched through the video's playback URL and one frame of them decoded
# (ffmpeg); PLAYABLE_S is when that frame decoded, empty if it never did. One process polls over
# one keep-alive connection every 50 ms: a curl and a python3 started per poll cost ~40% of a
# core, stolen from the encoders being measured.
wait_ready() {
  local out
  out=$(python3 - "$BASE" "$TOKEN" "$1" "$2" "${BENCH_TIMEOUT_S:-3600}" <<'PY'
import http.client, json, subprocess, sys, tempfile, time, urllib.parse, urllib.request
base, token, vid, t0, limit = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
u = urllib.parse.urlsplit(base)
conn, playable = None, ""

def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()

def first_frame_decodes(master_url):
    """The player's path: master -> first variant -> init + first segment -> one decoded frame."""
    try:
        master = fetch(master_url).decode()
        variant = next(l for l in master.splitlines() if l and not l.startswith("#"))
        media_url = urllib.parse.urljoin(master_url, variant)
        media = fetch(media_url).decode()
        segs = [l for l in media.splitlines() if l and not l.startswith("#")]
        init = next((l.split('URI="', 1)[1].split('"', 1)[0] for l in media.splitlines() if l.startswith("#EXT-X-MAP")), None)
        if not segs:
            return False
        data = (fetch(urllib.parse.urljoin(media_url, init)) if init else b"") + fetch(urllib.parse.urljoin(media_url, segs[0]))
    except (OSError, StopIteration, ValueError, IndexError):
        return False
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(data); f.flush()
        r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", f.name, "-frames:v", "1", "-f", "null", "-"],
                           capture_output=True)
        return r.returncode == 0 and not r.stderr.strip()

while time.time() - t0 < limit:
    try:
        conn = conn or http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        conn.request("GET", f"/v1/videos/{vid}", headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse(); body = r.read()
        v = json.loads(body) if r.status == 200 else {}
        st = v.get("status", "unknown")
    except (OSError, http.client.HTTPException, ValueError):
        conn, st, v = None, "unknown", {}
    if st in ("playable", "ready") and not playable:
        master = (v.get("playback") or {}).get("master")
        if master and first_frame_decodes(urllib.parse.urljoin(base + "/", master)):
            playable = str(round(time.time() - t0, 2))
    if st == "ready":
        print(playable or "-", round(time.time() - t0, 2)); sys.exit(0)
    if st in ("failed", "cancelled", "deleted"):
        print(f"processing ended {st}", file=sys.stderr); sys.exit(1)
    time.sleep(0.05)
print(f"not ready within {limit:.0f} s", file=sys.stderr); sys.exit(1)
PY
) || return 1
  PLAYABLE_S=${out% *}; [ "$PLAYABLE_S" = - ] && PLAYABLE_S=""
  READY_S=${out#* }
}

# make_source FILE SECONDS WxH: testsrc2 + a tone, H.264/AAC (the kind of file people upload).
make_source() {
  ffmpeg -nostdin -loglevel error -y -f lavfi -i "testsrc2=size=$3:rate=30:duration=$2" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$2" -c:v libx264 -preset ultrafast -crf 18 \
    -c:a aac -b:a 192k -shortest "$1"
}

# ladder WxH: the rungs vodflow makes of such a source, "name width height kbps profile" per line,
# as vodflow itself plans them.
ladder() { "$V" ladder "$1"; }
