package baseline_test

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/gosling-ota/gosling/loadtest/baseline"
)

func TestServeAnswersEveryGETWithThePollBody(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- baseline.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	for _, path := range []string{"/DEFAULT/controller/v1/dev-1", "/anything"} {
		code, body, err := fasthttp.Get(nil, url+path)
		if err != nil || code != 200 || string(body) != baseline.PollBody {
			t.Errorf("GET %s: %d %q %v", path, code, body, err)
		}
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI(url + "/DEFAULT/controller/v1/dev-1/configData")
	req.Header.SetMethod(fasthttp.MethodPut)
	if err := fasthttp.Do(req, resp); err != nil || resp.StatusCode() != 405 {
		t.Errorf("PUT: %d %v", resp.StatusCode(), err)
	}
	ln.Close()
	if err := <-done; err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
}
