// runtime: discovery, request plane and event plane, embedded or distributed behind one interface.
export { AsyncQueue } from "./async-queue.ts";
export type { Subscription, AsyncQueueOptions } from "./async-queue.ts";
export { formatAddress, parseAddress, instancePrefix, instanceKey, validateName } from "./address.ts";
export type { EndpointAddress } from "./address.ts";
export { MemoryDiscovery } from "./discovery.ts";
export type { Discovery, DiscoveryEvent, InstanceInfo, Registration, TransportInfo } from "./discovery.ts";
export { MemoryEventPlane, subjectMatches } from "./event-plane.ts";
export type { EventPlane } from "./event-plane.ts";
export { LocalRequestPlane, relayHandler } from "./request-plane.ts";
export type { RequestPlane, StreamHandler, HandlerContext, ServedHandler, CallOptions } from "./request-plane.ts";
export { EndpointClient } from "./endpoint-client.ts";
export type { InstanceChange } from "./endpoint-client.ts";
export { Runtime, Namespace, Component, Endpoint, ServedEndpoint, newInstanceId } from "./runtime.ts";
export type { RuntimePlanes, ServeOptions } from "./runtime.ts";
