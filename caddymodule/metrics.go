package caddymodule

import (
	"errors"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's series in Caddy's metrics registry (served on
// the admin endpoint's /metrics). No label ever holds a user, an address
// or a number: only realms, methods, channels, operations and results.
type metrics struct {
	events        *prometheus.CounterVec
	verifications *prometheus.CounterVec
	codesSent     *prometheus.CounterVec
	delivery      *prometheus.HistogramVec
	storeErrors   *prometheus.CounterVec
	storeSeconds  *prometheus.HistogramVec
	lookups       *prometheus.CounterVec
	lookupSeconds prometheus.Histogram
	lockouts      prometheus.Counter
	challenges    *prometheus.CounterVec
	users         *prometheus.GaugeVec
	devices       *prometheus.GaugeVec
	queueDepth    prometheus.Gauge
	queueOldest   prometheus.Gauge
}

func opts(name, help string) prometheus.Opts {
	return prometheus.Opts{Namespace: "caddy", Subsystem: "twofactor", Name: name, Help: help}
}

func histogram(name, help string, buckets []float64) prometheus.HistogramOpts {
	return prometheus.HistogramOpts{Namespace: "caddy", Subsystem: "twofactor", Name: name, Help: help, Buckets: buckets}
}

var (
	fastBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	slowBuckets = []float64{.05, .1, .25, .5, 1, 2, 5, 10, 30}
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events:        prometheus.NewCounterVec(prometheus.CounterOpts(opts("events_total", "Two-factor gateway events by kind.")), []string{"event"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts(opts("verifications_total", "Code checks by realm, method and result (success, wrong, replay, expired, locked, malformed).")), []string{"realm", "method", "result"}),
		codesSent:     prometheus.NewCounterVec(prometheus.CounterOpts(opts("codes_sent_total", "Codes sent by email or SMS, by result (sent, failed, capped).")), []string{"channel", "result"}),
		delivery:      prometheus.NewHistogramVec(histogram("delivery_seconds", "Time to hand a code to the email or SMS service.", slowBuckets), []string{"channel"}),
		storeErrors:   prometheus.NewCounterVec(prometheus.CounterOpts(opts("store_errors_total", "Store operations that failed, by operation.")), []string{"op"}),
		storeSeconds:  prometheus.NewHistogramVec(histogram("store_seconds", "Store operation latency, by operation.", fastBuckets), []string{"op"}),
		lookups:       prometheus.NewCounterVec(prometheus.CounterOpts(opts("lookup_total", "Who-am-I lookups at the app, by result (user, guest, failed).")), []string{"result"}),
		lookupSeconds: prometheus.NewHistogram(histogram("lookup_seconds", "Who-am-I lookup latency.", fastBuckets)),
		lockouts:      prometheus.NewCounter(prometheus.CounterOpts(opts("lockouts_total", "Users whose code entry was held after wrong codes."))),
		challenges:    prometheus.NewCounterVec(prometheus.CounterOpts(opts("challenges_total", "Requests sent to enter a code, by kind (sign_in, step_up).")), []string{"kind"}),
		users:         prometheus.NewGaugeVec(prometheus.GaugeOpts(opts("users", "Known users by realm and state (enrolled, pending, locked).")), []string{"realm", "state"}),
		devices:       prometheus.NewGaugeVec(prometheus.GaugeOpts(opts("trusted_devices", "Trusted (remembered) devices by realm.")), []string{"realm"}),
		queueDepth:    prometheus.NewGauge(prometheus.GaugeOpts(opts("setup_mail_queue_depth", "Setup emails waiting in the durable queue."))),
		queueOldest:   prometheus.NewGauge(prometheus.GaugeOpts(opts("setup_mail_queue_oldest_seconds", "Age of the oldest setup email waiting; 0 when none."))),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	register := func(c prometheus.Collector) prometheus.Collector {
		if err != nil {
			return c
		}
		if e := reg.Register(c); e != nil {
			// Several handlers of one config, and the app, share the registry.
			var are prometheus.AlreadyRegisteredError
			if !errors.As(e, &are) {
				err = e
				return c
			}
			return are.ExistingCollector
		}
		return c
	}
	m.events = register(m.events).(*prometheus.CounterVec)
	m.verifications = register(m.verifications).(*prometheus.CounterVec)
	m.codesSent = register(m.codesSent).(*prometheus.CounterVec)
	m.delivery = register(m.delivery).(*prometheus.HistogramVec)
	m.storeErrors = register(m.storeErrors).(*prometheus.CounterVec)
	m.storeSeconds = register(m.storeSeconds).(*prometheus.HistogramVec)
	m.lookups = register(m.lookups).(*prometheus.CounterVec)
	m.lookupSeconds = register(m.lookupSeconds).(prometheus.Histogram)
	m.lockouts = register(m.lockouts).(prometheus.Counter)
	m.challenges = register(m.challenges).(*prometheus.CounterVec)
	m.users = register(m.users).(*prometheus.GaugeVec)
	m.devices = register(m.devices).(*prometheus.GaugeVec)
	m.queueDepth = register(m.queueDepth).(prometheus.Gauge)
	m.queueOldest = register(m.queueOldest).(prometheus.Gauge)
	return m, err
}

// event counts a gateway event, and the series some events stand for.
func (m *metrics) event(name string) {
	m.events.WithLabelValues(name).Inc()
	switch {
	case name == "challenge_required":
		m.challenges.WithLabelValues("sign_in").Inc()
	case name == "step_up_required":
		m.challenges.WithLabelValues("step_up").Inc()
	case name == "user_locked_out" || name == "user_hard_locked":
		m.lockouts.Inc()
	case strings.HasPrefix(name, "code_sent_"):
		m.codesSent.WithLabelValues(strings.TrimPrefix(name, "code_sent_"), "sent").Inc()
	case strings.HasPrefix(name, "delivery_failed_"):
		m.codesSent.WithLabelValues(strings.TrimPrefix(name, "delivery_failed_"), "failed").Inc()
	case strings.HasPrefix(name, "send_capped_"):
		m.codesSent.WithLabelValues(strings.TrimPrefix(name, "send_capped_"), "capped").Inc()
	}
}

func (m *metrics) verification(realm, method, result string) {
	m.verifications.WithLabelValues(realm, method, result).Inc()
}

func (m *metrics) delivered(channel string, took time.Duration) {
	m.delivery.WithLabelValues(channel).Observe(took.Seconds())
}

func (m *metrics) storeOp(op string, took time.Duration, err error) {
	m.storeSeconds.WithLabelValues(op).Observe(took.Seconds())
	if err != nil {
		m.storeErrors.WithLabelValues(op).Inc()
	}
}

func (m *metrics) lookup(result string, took time.Duration) {
	m.lookups.WithLabelValues(result).Inc()
	m.lookupSeconds.Observe(took.Seconds())
}
