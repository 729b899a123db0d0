"""The HTTP headers between drillkit's gateway and its clients (a module of its own: the load
generator's Locust processes read them without importing the gateway's configuration code).

The gateway adds the first three to every answer; a client sends the fourth to reach one
region's nodes; the gateway marks a request it shed with the fifth.
"""

NODE_HEADER = "X-Drillkit-Node"  # the node that answered
REGION_HEADER = "X-Drillkit-Region"  # its region
VERSION_HEADER = "X-Drillkit-Version"  # the model version it served
TARGET_HEADER = "X-Drillkit-Region-Target"  # a request that names a region goes to that region's nodes only
SHED_HEADER = "X-Drillkit-Shed"  # on a 503 the gateway sent at once instead of queueing past max_queue
