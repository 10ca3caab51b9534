"""sim.kubelet: what the kubelet gives a pod (service env vars, resolv.conf). See ARCHITECTURE.md."""
