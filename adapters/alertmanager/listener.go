package alertmanager

import (
	"net"
	"sync"
	"sync/atomic"
)

// limitListener accepts at most max connections at a time: beyond that, Accept waits until one
// of them is closed, and new connections wait in the kernel's accept queue, costing khook
// neither memory nor a file descriptor. (golang.org/x/net/netutil.LimitListener does the same;
// these few lines spare a dependency and count the connections for tests.)
type limitListener struct {
	net.Listener
	slots     chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
	open      atomic.Int64 // connections accepted and not closed
	peak      atomic.Int64 // the most ever open at once
}

func newLimitListener(l net.Listener, max int) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, max), closed: make(chan struct{})}
}

// Accept waits for a free slot, then for a connection.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	n := l.open.Add(1)
	for {
		p := l.peak.Load()
		if n <= p || l.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return &limitConn{Conn: c, l: l}, nil
}

// Close stops accepting; connections already accepted stay open until closed.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// limitConn gives its slot back when it is closed, once.
type limitConn struct {
	net.Conn
	l        *limitListener
	released sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.released.Do(func() {
		c.l.open.Add(-1)
		<-c.l.slots
	})
	return err
}
