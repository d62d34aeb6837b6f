"""`pystack convert`: a validated Compose project (the canonical model) turned into Kubernetes
manifests.  `manifests.convert` is the entry point; the other modules each own one kind of
object: names (DNS-1123 names and labels), workloads (Deployment/StatefulSet/Job and the pod
template), storage (PVCs, ConfigMaps, Secrets), services (Services), policies
(NetworkPolicies).  Nothing here touches the host: it reads the model and, for file-backed
configs and secrets, the files they name."""
