//! gRPC server reflection for every Wick server, in both protocol versions: v1, and v1alpha,
//! which older grpcurl builds and Python's reflection client speak. Each server lists what it
//! serves (its wick.v1 service, gRPC health and reflection itself) the same way in both.

use tonic::transport::server::Router;
use tonic_reflection::server::Builder;

/// Why a reflection service could not be built (a malformed descriptor set).
pub use tonic_reflection::server::Error;

const ALWAYS_SERVED: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

fn builder(service: &str) -> Builder<'static> {
    let builder = Builder::configure()
        .include_reflection_service(false)
        .register_encoded_file_descriptor_set(crate::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .with_service_name(service);
    ALWAYS_SERVED.into_iter().fold(builder, Builder::with_service_name)
}

/// Adds reflection v1 and v1alpha to the routes of a server whose wick.v1 service is `service`
/// (a full name, such as `wick.v1.Ledger`), next to which it serves gRPC health.
pub fn add_to(routes: Router, service: &str) -> Result<Router, Error> {
    Ok(routes.add_service(builder(service).build_v1()?).add_service(builder(service).build_v1alpha()?))
}
