package control

// Routes returns "METHOD /path" for every route registered in the mux, for
// the test that compares them with the OpenAPI document.
func (s *Server) Routes() []string {
	out := make([]string, len(s.routes))
	for i, rt := range s.routes {
		out[i] = rt.method + " " + rt.path
	}
	return out
}

// PublicRoute reports whether a route needs no admin token.
func (s *Server) PublicRoute(methodPath string) bool {
	for _, rt := range s.routes {
		if rt.method+" "+rt.path == methodPath {
			return rt.public
		}
	}
	return false
}
