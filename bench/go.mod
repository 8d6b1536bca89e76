module github.com/shardmap/shardmap/bench

go 1.26

replace github.com/shardmap/shardmap => ../

require (
	github.com/orcaman/concurrent-map/v2 v2.0.1
	github.com/puzpuzpuz/xsync/v3 v3.5.1
	github.com/puzpuzpuz/xsync/v4 v4.5.0
	github.com/shardmap/shardmap v0.0.0-00010101000000-000000000000
)

require go.uber.org/atomic v1.12.0 // indirect
