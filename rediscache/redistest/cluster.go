package redistest

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of masters without replicas, each a Server.
type Cluster struct {
	// Nodes are the cluster's servers. Set by StartCluster.
	Nodes []*Server
}

// Addrs returns the nodes' addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// StartCluster starts n servers (at least 3) with cluster mode on, creates
// a cluster of them with redis-cli --cluster create, waits until every
// node reports cluster_state:ok, and stops them when t ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 3 {
		t.Fatalf("redistest: a cluster needs 3 masters, not %d", n)
	}
	need(t)
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		if Required() {
			t.Fatalf("redistest: redis-cli not found: %v", err)
		}
		t.Skip("redistest: redis-cli not found:", err)
	}
	c := &Cluster{}
	for range n {
		dir := t.TempDir()
		s := Start(t, "--cluster-enabled", "yes", "--cluster-config-file", dir+"/nodes.conf", "--cluster-node-timeout", "5000")
		c.Nodes = append(c.Nodes, s)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range c.Nodes {
		for {
			info, err := s.Do("CLUSTER", "INFO")
			str, _ := info.(string)
			if err == nil && strings.Contains(str, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster node %s not ok: %v %v", s.Addr, str, err)
			}
			time.Sleep(10 * time.Millisecond) // polling the node's state, with the deadline above
		}
	}
	return c
}

// String lists the nodes.
func (c *Cluster) String() string { return fmt.Sprint(c.Addrs()) }
