//! Every public handle and error is `Send + Sync + Debug`, so it can cross tasks and threads.

use breakerbox::*;

fn assert_send_sync_debug<T: Send + Sync + std::fmt::Debug>() {}

#[test]
fn public_types_are_send_sync_debug() {
    assert_send_sync_debug::<CircuitBreaker>();
    assert_send_sync_debug::<Registry>();
    assert_send_sync_debug::<Config>();
    assert_send_sync_debug::<ConfigBuilder>();
    assert_send_sync_debug::<ConfigError>();
    assert_send_sync_debug::<BreakerOpen>();
    assert_send_sync_debug::<CallError<std::io::Error>>();
    assert_send_sync_debug::<RegistryError>();
    assert_send_sync_debug::<BuildError>();
    assert_send_sync_debug::<NameError>();
    assert_send_sync_debug::<Snapshot>();
    assert_send_sync_debug::<Transition>();
    assert_send_sync_debug::<OwnedPermit>();
    assert_send_sync_debug::<Permit<'static>>();
    assert_send_sync_debug::<CircuitBreakerBuilder>();
    assert_send_sync_debug::<MonotonicClock>();
    assert_send_sync_debug::<UpkeepHandle>();
    assert_send_sync_debug::<State>();
    assert_send_sync_debug::<Reason>();
    assert_send_sync_debug::<Outcome>();
    assert_send_sync_debug::<WindowCounts>();
    assert_send_sync_debug::<Event<'static>>();
    assert_send_sync_debug::<CallTimeout>();
    assert_send_sync_debug::<FallbackReason>();
    #[cfg(feature = "axum")]
    assert_send_sync_debug::<breakerbox::http::Readiness>();
    #[cfg(feature = "tower")]
    assert_send_sync_debug::<breakerbox::http::Picked>();
    #[cfg(feature = "limit")]
    assert_send_sync_debug::<breakerbox::limit::RateLimitBuilder>();
    #[cfg(feature = "reqwest")]
    {
        use breakerbox::reqwest as rq;
        assert_send_sync_debug::<rq::CircuitBreakerMiddleware>();
        assert_send_sync_debug::<rq::MiddlewareBuilder>();
        assert_send_sync_debug::<rq::UpstreamClassifier>();
        assert_send_sync_debug::<rq::Origin>();
    }
    #[cfg(feature = "tonic")]
    {
        use breakerbox::tonic as grpc;
        assert_send_sync_debug::<grpc::GrpcBreakerLayer>();
        assert_send_sync_debug::<grpc::GrpcClassifier>();
        assert_send_sync_debug::<grpc::GrpcKey>();
        assert_send_sync_debug::<
            grpc::GrpcBody<http_body_util::Empty<bytes::Bytes>, grpc::GrpcClassifier>,
        >();
        assert_send_sync_debug::<
            grpc::GrpcBreakerService<
                (),
                breakerbox::http::KeyedBreakers<grpc::GrpcKey>,
                grpc::GrpcClassifier,
            >,
        >();
    }
    assert_send_sync_debug::<RegistryBuilder>();
    assert_send_sync_debug::<store::Record>();
    assert_send_sync_debug::<store::StoreError>();
    assert_send_sync_debug::<store::StoreStats>();
    #[cfg(feature = "persist")]
    assert_send_sync_debug::<store::FileStore>();
    #[cfg(feature = "fleet-redis")]
    {
        assert_send_sync_debug::<store::RedisStore>();
        assert_send_sync_debug::<breakerbox::fleet::Fleet>();
        assert_send_sync_debug::<breakerbox::fleet::FleetConfig>();
        assert_send_sync_debug::<breakerbox::fleet::FleetError>();
    }
}

#[test]
fn errors_are_std_errors() {
    fn is_error<E: std::error::Error + Send + Sync + 'static>() {}
    is_error::<ConfigError>();
    is_error::<BreakerOpen>();
    is_error::<CallTimeout>();
    is_error::<RegistryError>();
    is_error::<BuildError>();
    is_error::<NameError>();
    is_error::<CallError<std::io::Error>>();
    is_error::<store::StoreError>();
    #[cfg(feature = "fleet-redis")]
    is_error::<breakerbox::fleet::FleetError>();
}

#[test]
fn call_futures_are_send() {
    fn is_send<T: Send>(_: T) {}
    let b = CircuitBreaker::new("send");
    is_send(b.call(async { Ok::<_, std::io::Error>(1) }));
    is_send(b.call_with(Outcome::of, async { Ok::<_, std::io::Error>(1) }));
}
