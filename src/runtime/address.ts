// Names and addresses: turbine://<namespace>.<component>.<endpoint>.
import { TurbineError } from "../protocols/index.ts";

export interface EndpointAddress {
  namespace: string;
  component: string;
  endpoint: string;
}

const NAME = /^[A-Za-z0-9_-]+$/;

export function validateName(kind: string, name: string): string {
  if (!NAME.test(name)) {
    throw new TurbineError("REQUEST_INVALID", `invalid ${kind} name "${name}": use letters, digits, '-' and '_'`);
  }
  return name;
}

export function formatAddress(a: EndpointAddress): string {
  return `turbine://${a.namespace}.${a.component}.${a.endpoint}`;
}

export function parseAddress(uri: string): EndpointAddress {
  const m = /^turbine:\/\/([^.]+)\.([^.]+)\.([^.]+)$/.exec(uri);
  if (!m) throw new TurbineError("REQUEST_INVALID", `not an endpoint address: "${uri}" (expected turbine://ns.component.endpoint)`);
  return {
    namespace: validateName("namespace", m[1]!),
    component: validateName("component", m[2]!),
    endpoint: validateName("endpoint", m[3]!),
  };
}

/** Discovery key prefix of every instance of an endpoint (or of a component, or a namespace). */
export function instancePrefix(a: Partial<EndpointAddress> & { namespace: string }): string {
  let key = `instances/${a.namespace}/`;
  if (a.component !== undefined) {
    key += `${a.component}/`;
    if (a.endpoint !== undefined) key += `${a.endpoint}/`;
  }
  return key;
}

export function instanceKey(a: EndpointAddress, instanceId: string): string {
  return `${instancePrefix(a)}${instanceId}`;
}
