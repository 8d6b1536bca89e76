module github.com/shardmap/shardmap/rediscache

go 1.26.0

replace github.com/shardmap/shardmap => ../

require (
	github.com/redis/rueidis v1.0.80
	github.com/shardmap/shardmap v0.0.0-00010101000000-000000000000
)

require (
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
