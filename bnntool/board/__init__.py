"""The board: SSH transport and deploy (host side), the agent and runtime that run on the PYNQ.

Nothing here is imported by ``import bnntool.board``: the board runtime's zipapp carries this
package too, and must not pull in paramiko.
"""
