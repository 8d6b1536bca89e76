// Package redistest starts real redis-server processes for tests: a
// standalone server, or a Redis Cluster of several, each on a free loopback
// port with persistence off, stopped when the test ends.
//
// Where the redis-server binary is missing, Start and StartCluster skip the
// test, unless the environment variable SHARDMAP_REQUIRE_REDIS is 1 or CI
// is true: then they fail it, so that a CI run can never pass without
// running the tests that need Redis.
//
//	func TestSomething(t *testing.T) {
//		srv := redistest.Start(t)
//		client := connect(srv.Addr)
//		...
//	}
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Binary is the redis-server executable that Start runs, looked up in PATH.
const Binary = "redis-server"

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 10 * time.Second

// Required reports whether a missing redis-server must fail tests instead
// of skipping them: SHARDMAP_REQUIRE_REDIS=1 or CI=true.
func Required() bool {
	return os.Getenv("SHARDMAP_REQUIRE_REDIS") == "1" || os.Getenv("CI") == "true"
}

// Available returns the path of redis-server, or an error if it is not in
// PATH.
func Available() (string, error) {
	p, err := exec.LookPath(Binary)
	if err != nil {
		return "", fmt.Errorf("redistest: %s not found (apt-get install redis-server): %w", Binary, err)
	}
	return p, nil
}

// need skips or fails t when redis-server is missing, and returns its path.
func need(t testing.TB) string {
	t.Helper()
	p, err := Available()
	if err != nil {
		if Required() {
			t.Fatalf("%v; SHARDMAP_REQUIRE_REDIS=1 or CI=true requires it", err)
		}
		t.Skip(err)
	}
	return p
}

// Server is one redis-server process on 127.0.0.1. Its methods are for
// one test goroutine at a time.
type Server struct {
	// Addr is the server's host:port. Set by Start, never changed.
	Addr string
	// Port is Addr's port.
	Port int

	bin  string
	dir  string
	args []string
	// cmd is the running process, nil once it was killed or stopped.
	cmd *exec.Cmd
	// exited is closed when cmd has exited.
	exited chan struct{}
}

// Start runs a standalone redis-server on a free loopback port with
// persistence off and extra args appended to its command line (for example
// "--maxmemory", "2mb"), waits until it answers PING, and stops it when t
// ends.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin := need(t)
	s, err := start(bin, t.TempDir(), args)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartServer is Start for code without a testing.TB, such as an Example:
// it returns an error instead of skipping, and the caller must call Stop.
// dir holds the server's working files.
func StartServer(dir string, args ...string) (*Server, error) {
	bin, err := Available()
	if err != nil {
		return nil, err
	}
	return start(bin, dir, args)
}

func start(bin, dir string, args []string) (*Server, error) {
	var lastErr error
	for range 5 { // a free port can be taken between the probe and the listen
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, bin: bin, dir: dir, args: args}
		if lastErr = s.launch(); lastErr == nil {
			return s, nil
		}
	}
	return nil, lastErr
}

// launch starts the process on s.Port and waits for PING.
func (s *Server) launch() error {
	argv := []string{
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--protected-mode", "no", "--dir", s.dir, "--loglevel", "warning",
		"--logfile", "redis-" + strconv.Itoa(s.Port) + ".log",
	}
	argv = append(argv, s.args...)
	cmd := exec.Command(s.bin, argv...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: starting %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	var werr error
	go func() { werr = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(startTimeout)
	for {
		if r, err := s.Do("PING"); err == nil && r == "PONG" {
			s.cmd, s.exited = cmd, exited
			return nil
		}
		select {
		case <-exited:
			logs, _ := os.ReadFile(s.dir + "/redis-" + strconv.Itoa(s.Port) + ".log")
			return fmt.Errorf("redistest: redis-server on port %d exited (%v): %s", s.Port, werr, logs)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redistest: redis-server on port %d did not answer PING within %v", s.Port, startTimeout)
		}
	}
}

// signal sends sig to the running process.
func (s *Server) signal(sig syscall.Signal) error {
	if s.cmd == nil {
		return fmt.Errorf("redistest: redis-server on port %d is not running", s.Port)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("redistest: signalling redis-server on port %d: %w", s.Port, err)
	}
	return nil
}

// Pause stops the process with SIGSTOP: connections stay open, nothing is
// answered.
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP) }

// Resume continues a paused process with SIGCONT.
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT) }

// Kill ends the process with SIGKILL and waits for it to exit. Its data is
// gone: persistence is off.
func (s *Server) Kill() error {
	if err := s.signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-s.exited
	s.cmd = nil
	return nil
}

// Restart starts a new, empty process on the same port after Kill.
func (s *Server) Restart() error {
	if s.cmd != nil {
		return fmt.Errorf("redistest: redis-server on port %d is still running", s.Port)
	}
	return s.launch()
}

// Stop ends the process, if it runs, and waits for it. A paused process is
// killed too.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.Kill()
}

// Do sends one command on a new connection and returns its reply, see
// Command.
func (s *Server) Do(args ...string) (any, error) {
	conn, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	return Command(conn, args...)
}

// MustDo is Do that fails t on an error.
func (s *Server) MustDo(t testing.TB, args ...string) any {
	t.Helper()
	r, err := s.Do(args...)
	if err != nil {
		t.Fatalf("redis %v: %v", args, err)
	}
	return r
}

// freePort returns a loopback port that was free a moment ago, below 55536
// so that a cluster node's bus port (port + 10000) exists, and with that
// bus port free too.
func freePort() (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("redistest: finding a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port > 55535 {
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		if err != nil {
			continue
		}
		bus.Close()
		return port, nil
	}
	return 0, errors.New("redistest: no free port pair found")
}

// Command writes one command to rw in RESP2 and reads its reply: a string
// for simple strings and bulk strings, nil for a nil reply, an int64 for
// integers, a []any for arrays, and an error for error replies.
func Command(rw net.Conn, args ...string) (any, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := rw.Write([]byte(b.String())); err != nil {
		return nil, fmt.Errorf("redistest: writing %s: %w", args[0], err)
	}
	return readReply(bufio.NewReader(rw))
}

// readReply parses one RESP2 reply.
func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("redistest: reading reply: %w", err)
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("redistest: empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, fmt.Errorf("redistest: redis error: %s", body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("redistest: reading bulk string: %w", err)
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("redistest: unexpected reply %q", line)
}
