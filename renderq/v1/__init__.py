"""Generated gRPC stubs of the renderq.v1 API (see protos/). Never edit by hand."""
