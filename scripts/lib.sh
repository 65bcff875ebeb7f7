# Shared by the benchmark scripts (source it after setting $qecho and $work).

# Starts `qecho $@` in the background and sets $listening to the address of its "listening on"
# line. Not for a $(...) subshell, which would take the background process with it.
start() {
    local log=$work/$1-$RANDOM.log
    "$qecho" "$@" --listen 127.0.0.1:0 2>"$log" &
    for _ in $(seq 100); do
        grep -q "listening on" "$log" 2>/dev/null && break
        sleep 0.1
    done
    listening=$(grep -o 'listening on [0-9.:]*' "$log" | head -1 | awk '{print $3}')
    [ -n "$listening" ] || { echo "qecho $* did not start:"; cat "$log"; exit 1; }
}

# The median of the numbers on standard input, one per line.
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
