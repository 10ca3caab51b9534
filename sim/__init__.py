"""kube-netsim: a discrete-event simulator of Kubernetes Service networking.

See ARCHITECTURE.md for the layering; each subpackage's docstring states its model, scope and
limitations, and how it was validated.
"""

__version__ = "0.1.0"
