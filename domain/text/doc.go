// Package text measures and cuts the strings khook writes into Kubernetes objects: how long a
// string is once encoding/json has escaped it, and where it may be cut without splitting a
// UTF-8 character. The status summary and the Investigations both stay within the API server's
// limits with it.
package text
