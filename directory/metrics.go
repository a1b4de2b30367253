package directory

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	runtimemetrics "runtime/metrics"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// fanOutBuckets are the upper bounds (seconds) of the presence fan-out
// latency histogram: from publishing a change to queueing it for watchers.
var fanOutBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}

// metrics are the directory's Prometheus metrics, kept with the standard
// library: a handful of counters do not need a client library.
type metrics struct {
	logins       atomic.Uint64
	rateLimited  atomic.Uint64
	disconnected atomic.Uint64 // clients dropped for too many bad requests
	nodesGone    atomic.Uint64 // other directories found gone from NATS

	// mu guards the following fields.
	mu       sync.Mutex
	messages map[string]uint64 // by request type; types come from the decoder, so the set is bounded
	fanOut   []uint64          // cumulative counts per fanOutBuckets, then +Inf
	fanOutN  uint64
	fanOutS  float64
}

func newMetrics() *metrics {
	return &metrics{messages: make(map[string]uint64), fanOut: make([]uint64, len(fanOutBuckets)+1)}
}

func (m *metrics) countMessage(typ string) {
	m.mu.Lock()
	m.messages[typ]++
	m.mu.Unlock()
}

// observeFanOut records the latency of one presence fan-out, sent being
// the publisher's clock in Unix nanoseconds (directories of one cluster are
// expected to keep their clocks in sync).
func (m *metrics) observeFanOut(sent string) {
	ns, err := strconv.ParseInt(sent, 10, 64)
	if err != nil {
		return
	}
	d := time.Since(time.Unix(0, ns)).Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	i, _ := slices.BinarySearch(fanOutBuckets, d)
	for ; i < len(m.fanOut); i++ {
		m.fanOut[i]++
	}
	m.fanOutN++
	m.fanOutS += d
}

// write prints the metrics in the Prometheus text format (version 0.0.4).
func (m *metrics) write(w io.Writer, sessions int) {
	fmt.Fprintf(w, "# HELP parley_directory_sessions Logged-in sessions on this directory.\n# TYPE parley_directory_sessions gauge\nparley_directory_sessions %d\n", sessions)
	fmt.Fprintf(w, "# HELP parley_directory_logins_total Successful logins.\n# TYPE parley_directory_logins_total counter\nparley_directory_logins_total %d\n", m.logins.Load())
	fmt.Fprintf(w, "# HELP parley_directory_rate_limited_total Requests refused by a rate limit or a recipient that does not keep up.\n# TYPE parley_directory_rate_limited_total counter\nparley_directory_rate_limited_total %d\n", m.rateLimited.Load())
	fmt.Fprintf(w, "# HELP parley_directory_bad_clients_total Clients disconnected for sending too many bad requests.\n# TYPE parley_directory_bad_clients_total counter\nparley_directory_bad_clients_total %d\n", m.disconnected.Load())
	fmt.Fprintf(w, "# HELP parley_directory_nodes_gone_total Other directories found gone from NATS without closing their sessions.\n# TYPE parley_directory_nodes_gone_total counter\nparley_directory_nodes_gone_total %d\n", m.nodesGone.Load())
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(w, "# HELP parley_directory_messages_total Requests received, by type.\n# TYPE parley_directory_messages_total counter\n")
	for _, t := range slices.Sorted(maps.Keys(m.messages)) {
		fmt.Fprintf(w, "parley_directory_messages_total{type=%q} %d\n", t, m.messages[t])
	}
	fmt.Fprintf(w, "# HELP parley_directory_presence_fanout_seconds Time from a presence change to its frames being queued for watchers.\n# TYPE parley_directory_presence_fanout_seconds histogram\n")
	for i, le := range fanOutBuckets {
		fmt.Fprintf(w, "parley_directory_presence_fanout_seconds_bucket{le=\"%g\"} %d\n", le, m.fanOut[i])
	}
	fmt.Fprintf(w, "parley_directory_presence_fanout_seconds_bucket{le=\"+Inf\"} %d\n", m.fanOut[len(fanOutBuckets)])
	fmt.Fprintf(w, "parley_directory_presence_fanout_seconds_sum %g\nparley_directory_presence_fanout_seconds_count %d\n", m.fanOutS, m.fanOutN)
}

func (s *Server) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	sessions := 0
	for ss := range s.all {
		if ss.sub != nil {
			sessions++
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.write(w, sessions)
	writeRuntimeMetrics(w)
	s.relays.writeMetrics(w)
}

// runtimeMetrics are the Go runtime's figures that say where a directory's
// memory goes, under the names Prometheus's Go collector uses.
var runtimeMetrics = []struct{ name, sample, help string }{
	{"go_goroutines", "/sched/goroutines:goroutines", "Goroutines that currently exist."},
	{"go_memstats_heap_inuse_bytes", "/memory/classes/heap/objects:bytes", "Bytes of live and not yet swept heap objects."},
	{"go_memstats_stack_inuse_bytes", "/memory/classes/heap/stacks:bytes", "Bytes of goroutine stacks."},
	{"go_memstats_sys_bytes", "/memory/classes/total:bytes", "Bytes of memory obtained from the OS."},
}

func writeRuntimeMetrics(w io.Writer) {
	samples := make([]runtimemetrics.Sample, len(runtimeMetrics))
	for i, m := range runtimeMetrics {
		samples[i].Name = m.sample
	}
	runtimemetrics.Read(samples)
	for i, m := range runtimeMetrics {
		if samples[i].Value.Kind() != runtimemetrics.KindUint64 {
			continue
		}
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", m.name, m.help, m.name, m.name, samples[i].Value.Uint64())
	}
}
