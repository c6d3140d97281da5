package postgres

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector exports pgxpool.Stat at scrape time: the pool already
// counts, so nothing is added to the query paths.
type poolCollector struct {
	pool                                          *pgxpool.Pool
	conns, acquires, empty, canceled, waitSeconds *prometheus.Desc
}

// RegisterMetrics registers the connection pool's metrics on reg:
// gosling_db_pool_connections{state="acquired|idle|constructing|total|max"},
// gosling_db_pool_acquires_total, gosling_db_pool_empty_acquires_total
// (acquires that had to wait for a connection: the saturation signal),
// gosling_db_pool_canceled_acquires_total and
// gosling_db_pool_acquire_duration_seconds_total.
func (db *DB) RegisterMetrics(reg prometheus.Registerer) error {
	return reg.Register(&poolCollector{
		pool: db.pool,
		conns: prometheus.NewDesc("gosling_db_pool_connections",
			"Database pool connections by state (acquired, idle, constructing), the total and the pool's maximum.",
			[]string{"state"}, nil),
		acquires: prometheus.NewDesc("gosling_db_pool_acquires_total",
			"Connections acquired from the pool.", nil, nil),
		empty: prometheus.NewDesc("gosling_db_pool_empty_acquires_total",
			"Acquires that found no idle connection and had to wait for one or dial.", nil, nil),
		canceled: prometheus.NewDesc("gosling_db_pool_canceled_acquires_total",
			"Acquires canceled by their context before a connection was free.", nil, nil),
		waitSeconds: prometheus.NewDesc("gosling_db_pool_acquire_duration_seconds_total",
			"Total time spent acquiring connections.", nil, nil),
	})
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.acquires, c.empty, c.canceled, c.waitSeconds} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.pool.Stat()
	for _, v := range []struct {
		state string
		n     int32
	}{
		{"acquired", st.AcquiredConns()}, {"idle", st.IdleConns()}, {"constructing", st.ConstructingConns()},
		{"total", st.TotalConns()}, {"max", st.MaxConns()},
	} {
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(v.n), v.state)
	}
	ch <- prometheus.MustNewConstMetric(c.acquires, prometheus.CounterValue, float64(st.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.empty, prometheus.CounterValue, float64(st.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.canceled, prometheus.CounterValue, float64(st.CanceledAcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.waitSeconds, prometheus.CounterValue, st.AcquireDuration().Seconds())
}
